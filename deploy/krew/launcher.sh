#!/bin/sh
# kubectl-migctl, as krew installs it: kubectl runs it for `kubectl migctl ...`. The migctl
# package and its dependencies are in lib/ beside the real file (krew links this file into its bin
# directory, so the link is resolved first). Needs python3 >= 3.11 on PATH.
self=$0
while [ -L "$self" ]; do
  target=$(readlink "$self")
  case $target in
    /*) self=$target ;;
    *) self=$(dirname "$self")/$target ;;
  esac
done
here=$(cd "$(dirname "$self")" && pwd)
PYTHONPATH="$here/lib${PYTHONPATH:+:$PYTHONPATH}" exec "${MIGCTL_PYTHON:-python3}" -c \
  'import sys; from migctl.cli.main import kubectl_plugin_main; sys.argv[0] = "kubectl-migctl"; kubectl_plugin_main()' "$@"
