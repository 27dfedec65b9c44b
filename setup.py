"""A built nspod package carries nspod-exec and nspod-keeper, compiled here
(scripts/setup compiles them in place for a checkout)."""
import os

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithExecutor(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:
            import importlib.util

            spec = importlib.util.spec_from_file_location("build", os.path.join("nspod", "executor", "build.py"))
            build = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(build)
            build.build(os.path.join(self.build_lib, "nspod", "executor"))


setup(cmdclass={"build_py": BuildWithExecutor})
