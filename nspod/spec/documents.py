"""YAML text -> the list of documents in it (plain dicts, lists, scalars).

PyYAML is imported on first use: importing nspod.spec for the model alone
(as a long-lived watchdog may) should not pay for a YAML parser.
"""

import functools

from nspod.errors import ManifestError


@functools.cache
def _strict_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping: plain
        YAML keeps the last value silently, hiding a typo or a bad paste.
        Merge keys ("<<: *defaults") may still be overridden."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r}", key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return StrictLoader


def read_documents(text, source):
    """The non-empty documents of a YAML stream ("---" separated). A syntax
    error becomes a ManifestError whose path is "source:line:column"."""
    import yaml

    try:
        documents = list(yaml.load_all(text, Loader=_strict_loader()))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = ", ".join(part for part in (error.context, error.problem) if part)
        raise ManifestError([(where, f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as error:
        raise ManifestError([(source, f"invalid YAML: {error}")]) from None
    except RecursionError:
        raise ManifestError([(source, "invalid YAML: nested too deeply")]) from None
    return [document for document in documents if document is not None]
