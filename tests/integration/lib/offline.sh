# offline.sh: the configuration of an offline run (`sgcluster replay`, `sgcluster tune`): a node name,
# the shipped rules, and a scenario directory. Needs ROOT (the source tree).
#
#   offline_conf FILE [SCENARIO_DIR]   writes FILE; SCENARIO_DIR defaults to the shipped agent/scenarios.d
offline_conf() {
    cat > "$1" <<CONF
[node]
name = offline
[detect]
rules = $ROOT/detect/rules.d
scenarios = ${2:-$ROOT/agent/scenarios.d}
CONF
}
