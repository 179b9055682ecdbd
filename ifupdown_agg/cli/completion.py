"""The bash completion of ifagg, generated from its argument parser (at package build:
debian/rules), so it offers exactly the commands and flags ifagg accepts.

    python3 -m ifupdown_agg.cli.completion > ifagg

Stanza names come from the interfaces(5) file given with -i/--interfaces (default
/etc/network/interfaces) and from what it sources (source, source-directory).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Dict, List, Tuple

SCRIPT_HEAD = r"""# bash completion for ifagg(8). Generated from ifagg's argument parser by
# `python3 -m ifupdown_agg.cli.completion`; do not edit.

_ifagg_stanzas() {
    # $1: an interfaces(5) file; $2: an awk regex of option names; $3: the depth.
    # Stanza names with one of those options, here and in what the file sources.
    local file=$1 want=$2 depth=${3:-0} dir kind arg f
    [[ -r $file && $depth -lt 5 ]] || return
    dir=$(dirname -- "$file")
    while read -r kind arg; do
        [[ $kind == N || $arg == /* ]] || arg=$dir/$arg
        case $kind in
            N) printf '%s\n' "$arg" ;;
            source) for f in $arg; do [[ -f $f ]] && _ifagg_stanzas "$f" "$want" $((depth + 1)); done ;;
            source-directory)
                for f in "$arg"/*; do
                    [[ -f $f && ${f##*/} =~ ^[a-zA-Z0-9_-]+$ ]] && _ifagg_stanzas "$f" "$want" $((depth + 1))
                done ;;
        esac
    done < <(awk -v want="$want" '
        $1 == "iface" { name = $2; next }
        $1 == "source" || $1 == "source-directory" { print $1, $2; next }
        $1 ~ want && name { print "N", name; name = "" }' "$file" 2>/dev/null)
}

_ifagg() {
    local cur prev words cword
    _init_completion || return
    local path=ifagg file=/etc/network/interfaces npos=0 i w skip=""
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -n $skip ]]; then
            [[ $skip == -i || $skip == --interfaces ]] && file=$w
            skip=""
            continue
        fi
        case $w in
            --interfaces=*) file=${w#*=} ;;
            -*) [[ " ${_ifagg_argflags[$path]} " == *" $w "* ]] && skip=$w ;;
            *)
                if [[ -n ${_ifagg_subs[$path]} ]]; then
                    path="$path $w"
                else
                    npos=$((npos + 1))
                fi ;;
        esac
    done
    if [[ -n $skip ]]; then
        case ${_ifagg_argkind[$path $skip]} in
            FILE) _filedir ;;
            DIR) _filedir -d ;;
            W:*) COMPREPLY=($(compgen -W "${_ifagg_argkind[$path $skip]#W:}" -- "$cur")) ;;
        esac
        return
    fi
    if [[ $cur == -* || -n ${_ifagg_subs[$path]} ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "${_ifagg_flags[$path]}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "${_ifagg_subs[$path]}" -- "$cur"))
        fi
        return
    fi
    local specs spec
    IFS=';' read -r -a specs <<< "${_ifagg_pos[$path]}"
    if ((npos < ${#specs[@]})); then
        spec=${specs[npos]}
    elif [[ -n ${_ifagg_more[$path]} ]] && ((${#specs[@]})); then
        spec=${specs[${#specs[@]} - 1]}
    fi
    case $spec in
        S:*) COMPREPLY=($(compgen -W "$(_ifagg_stanzas "$file" "${spec#S:}")" -- "$cur")) ;;
        W:*) COMPREPLY=($(compgen -W "${spec#W:}" -- "$cur")) ;;
        BONDS) COMPREPLY=($(compgen -W "$(ls /proc/net/bonding 2>/dev/null)" -- "$cur")) ;;
        FILE) _filedir ;;
    esac
}
"""


def _stanza_filters() -> Dict[str, str]:
    """awk regexes of the options that make a stanza ours: any, overlay, usbnet."""
    from ifupdown_agg.config.registry import ALL_OPTIONS, groups_of
    names = {"ours": sorted(n for n in ALL_OPTIONS if groups_of([n])),
             "overlay": sorted(n for n in ALL_OPTIONS if "overlay" in groups_of([n])),
             "usbnet": sorted(n for n in ALL_OPTIONS if "usbnet" in groups_of([n]))}
    return {k: "^(" + "|".join(re.escape(n) for n in v) + ")$" for k, v in names.items()}


# Commands whose stanza arguments are overlays only, or USB gadget stanzas only.
OVERLAY_ONLY = ("ifagg check", "ifagg status", "ifagg monitor", "ifagg networkd post-apply")
USBNET_ONLY = ("ifagg usbnet",)


def _positional(path: str, action, filters: Dict[str, str]) -> str:
    if action.choices:
        return "W:" + " ".join(action.choices)
    if action.dest in ("bonds", "bond"):
        return "BONDS"
    if action.dest == "iface":
        which = ("overlay" if path in OVERLAY_ONLY else "usbnet" if path in USBNET_ONLY
                 else "ours")
        return "S:" + filters[which]
    return "FILE" if (action.metavar or "").upper() == "FILE" else "-"


def _argkind(action) -> str:
    if action.choices:
        return "W:" + " ".join(map(str, action.choices))
    return (action.metavar or "").upper() if (action.metavar or "").upper() in ("FILE", "DIR") \
        else "-"


def tables(parser: argparse.ArgumentParser) -> List[Tuple[str, Dict[str, str]]]:
    """The completion's data, per command path ("ifagg", "ifagg plan", "ifagg networkd diff"...)."""
    filters = _stanza_filters()
    out = {"flags": {}, "argflags": {}, "subs": {}, "pos": {}, "more": {}, "argkind": {}}

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        flags, argflags, pos = [], [], []
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                out["subs"][path] = " ".join(action.choices)
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.option_strings:
                if action.help != argparse.SUPPRESS:
                    flags += action.option_strings
                if action.nargs != 0:
                    argflags += action.option_strings
                    for flag in action.option_strings:
                        out["argkind"][f"{path} {flag}"] = _argkind(action)
            else:
                pos.append(_positional(path, action, filters))
                if action.nargs in ("*", "+"):
                    out["more"][path] = "1"
        out["flags"][path] = " ".join(flags)
        out["argflags"][path] = " ".join(argflags)
        out["pos"][path] = ";".join(pos)

    walk(parser, "ifagg")
    return list(out.items())


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def script(parser: argparse.ArgumentParser = None) -> str:
    if parser is None:
        from ifupdown_agg.cli.main import build_parser
        parser = build_parser()
    lines = [SCRIPT_HEAD.rstrip("\n"), ""]
    for name, table in tables(parser):
        lines.append(f"declare -gA _ifagg_{name}=(")
        lines += [f"    [{_quote(k)}]={_quote(v)}" for k, v in sorted(table.items())]
        lines.append(")")
    lines.append("complete -F _ifagg ifagg")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m ifupdown_agg.cli.completion",
                                 description="Print ifagg's bash completion, from its parser.")
    ap.parse_args(argv)
    sys.stdout.write(script())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
