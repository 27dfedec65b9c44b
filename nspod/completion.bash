# bash completion for nspod. Enable it in one of these ways:
#   . .venv/share/bash-completion/completions/nspod   this shell (scripts/setup's .venv/bin/activate does it)
#   source <(nspod completion bash)                   this shell, from any installed nspod
#   nspod completion bash | sudo tee /etc/bash_completion.d/nspod >/dev/null   every new shell
# The words come from `nspod __complete LINE BREAKS` (nspod/completion.py):
# verbs and flags from nspod's own argument parser, names from its state.
_nspod() {
    local cmd=$1 reply=() f
    [[ $cmd == "~/"* ]] && cmd=$HOME/${cmd#"~/"}
    mapfile -t reply < <("$cmd" __complete "${COMP_LINE:0:COMP_POINT}" "$COMP_WORDBREAKS" 2>/dev/null)
    [ "${#reply[@]}" -ge 2 ] || return 0
    local kind=${reply[0]} cut=${reply[1]}   # how to take the words; the part of the word bash replaces
    COMPREPLY=("${reply[@]:2}")
    case $kind in
        FILES*)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cut")
            ;;
        PODS_AND_FILES*)
            if [ -n "$cut" ]; then  # as kubectl: local files too, once something is typed
                while IFS= read -r f; do
                    [ -d "$f" ] && f+=/
                    COMPREPLY+=("$f")
                done < <(compgen -f -- "$cut")
            fi
            ;;
    esac
    [[ $kind == *NOSPACE* ]] && compopt -o nospace 2>/dev/null
    return 0
}
complete -F _nspod nspod
