#!/usr/bin/env bash
# Command-line option parsing for recipes, with the contract of Kaldi's utils/parse_options.sh.
#
# Source it after defining the variables that may be set from the command line:
#
#   stage=0
#   use_gpu=false
#   . ../../local/parse_options.sh
#
# Then `run.sh --stage 3 --use-gpu true pos1 pos2` sets stage=3 and use_gpu=true and leaves "pos1 pos2"
# in "$@". Rules:
#   * --foo-bar VALUE and --foo-bar=VALUE set foo_bar (dashes become underscores); foo_bar must already
#     be defined, otherwise it is an error;
#   * a variable whose value is true or false only accepts true or false;
#   * --config FILE sources FILE (shell assignments) before the remaining options are applied;
#   * --help or -h prints "$help_message" (if set) and exits 0;
#   * parsing stops at "--" (removed) or at the first argument not starting with "--".

__po_usage() {
  if [ -n "${help_message:-}" ]; then printf '%s\n' "$help_message" >&2; fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      __po_usage
      exit 0 ;;
    --)
      shift
      break ;;
    --*=*)
      __po_name=${1%%=*}; __po_value=${1#*=}; shift ;;
    --*)
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value" >&2; __po_usage; exit 1
      fi
      __po_name=$1; __po_value=$2; shift 2 ;;
    *)
      break ;;
  esac
  __po_var=${__po_name#--}
  __po_var=${__po_var//-/_}
  if [ "$__po_var" = config ]; then
    if [ ! -f "$__po_value" ]; then echo "$0: --config: no such file $__po_value" >&2; exit 1; fi
    # shellcheck disable=SC1090
    . "$__po_value"
    continue
  fi
  case "$__po_var" in
    ''|[0-9]*|*[!A-Za-z0-9_]*)
      echo "$0: invalid option $__po_name" >&2; __po_usage; exit 1 ;;
  esac
  if [ -z "${!__po_var+set}" ]; then
    echo "$0: invalid option $__po_name (no variable $__po_var in the script)" >&2; __po_usage; exit 1
  fi
  __po_old=${!__po_var}
  if [ "$__po_old" = true ] || [ "$__po_old" = false ]; then
    if [ "$__po_value" != true ] && [ "$__po_value" != false ]; then
      echo "$0: option $__po_name expects true or false, got '$__po_value'" >&2; exit 1
    fi
  fi
  printf -v "$__po_var" '%s' "$__po_value"
done
unset __po_name __po_value __po_var __po_old
true
