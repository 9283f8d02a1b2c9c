#!/bin/bash
# What lambda create/start refuse before anything reaches the platform: a
# workload the guest would refuse (it would leave an instance waiting for a
# key forever), and a configuration's allow_simulated_insecure when its
# endpoint is not on this machine.
. "$(dirname "$0")/lib.sh"
setup_env
platform_up

run "$LAMBDA" key generate --name it-key --output key.pem
[ "$rc" = 0 ] || bail "key generate failed"

create() {
	run "$LAMBDA" create instance --type compute-4x --region local --encryption-key key.pem \
		--timeout 60 "$@"
}
instance_count() {
	"$LAMBDA" list instances --json | jq 'length'
}

# 1. Workloads the guest refuses are usage errors, and no instance is made.
create -- ""
check "an empty command is refused (exit 2)" test "$rc" = 2
check "the message says the command is empty" err_has "command (first word after --) is empty"
create -- /bin/true $(seq 1 1100)
check "1101 command words are refused (exit 2)" test "$rc" = 2
check "the message names the guest's limit" err_has "at most 1024"
big=$(head -c 105000 /dev/zero | tr '\0' a)	# one argument is at most 128 KiB
create -- /bin/echo "$big" "$big" "$big" "$big" "$big" "$big" "$big" "$big"
check "840 KB of arguments are refused (exit 2)" test "$rc" = 2
check "the message says too large" err_has "too large"
env_args=()
for i in $(seq 1 1025); do env_args+=(--env "V$i=x"); done
create "${env_args[@]}" -- /bin/true
check "1025 --env variables are refused (exit 2)" test "$rc" = 2
check "no instance was created by any of them" test "$(instance_count)" = 0
expect_rc 2 "start instance with an empty command" \
	"$LAMBDA" start instance inst_0123456789abcdef --encryption-key key.pem -- ""

# 2. allow_simulated_insecure counts only for a loopback endpoint.
addr=$(hostname -I 2>/dev/null | awk '{ print $1 }')
if [ -n "$addr" ]; then
	(umask 077 && jq --arg e "https://$addr:$PORT" '.endpoint = $e | del(.data_dir)' \
		"$XDG_CONFIG_HOME/lambda/config.json" >"$T/out/remote.json")
	run "$LAMBDA" --config "$T/out/remote.json" create instance --type compute-4x --region local \
		--encryption-key key.pem --timeout 10 -- /bin/true
	check "a remote configuration's allow_simulated_insecure is ignored, with a warning" \
		err_has "ignoring allow_simulated_insecure of the configuration"
fi
create -- /bin/true
check "the local configuration still allows the simulated platform" test "$rc" = 0
check "without that warning" bash -c "! grep -q 'ignoring allow_simulated' '$T/out/last.err'"

done_testing
