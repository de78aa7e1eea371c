#!/bin/sh
# demo.sh: the local demo cluster (make demo). Until the agent and the transport exist this says so
# and shows what the build has; it grows into the three-node namespace demo of the README.
set -u
echo "sgcluster demo: the three-node cluster demo needs sgagent, which is not built yet."
echo "built so far:"; ls "${SG_BIN:-bin}"
exit 0
