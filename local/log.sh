# Sourced by the recipes and bench scripts: icefall's log() -- time, file:line and function, then the
# message -- and require_options, the check of a script's mandatory --options.

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

require_options() {
  # require_options <variable...>: stop with "--<name> is required" (and the script's $help_message, if it
  # has one) for the first one that is empty
  local v
  for v in "$@"; do
    if [ -z "${!v}" ]; then
      echo "$0: --${v//_/-} is required" >&2
      [ -z "${help_message:-}" ] || echo "$help_message" >&2
      exit 1
    fi
  done
}
