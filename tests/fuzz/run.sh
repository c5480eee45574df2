#!/usr/bin/env bash
# run.sh SECONDS: builds the libFuzzer targets (clang, -fsanitize=fuzzer,address) and runs each for SECONDS.
# Exits non-zero if any target finds a crash, a leak or an abort.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
CFLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Isrc $(pkg-config --cflags jansson)"
# The cli_line target runs the real routes and store (SQLite, OpenSSL for certificates).
LIBS="$(pkg-config --libs jansson) -lsqlite3 -lcrypto"
common="src/config/schema.c src/config/refschema.c src/config/refpolicy.c src/lib/util.c"

declare -A targets
targets[json_decode]="tests/fuzz/fuzz_json_decode.c src/api/decode.c $common"
# The shell's line parser: the files it needs are listed in src/cli/fuzz-sources.txt.
if [ -f tests/fuzz/fuzz_cli_line.c ] && [ -f src/cli/fuzz-sources.txt ]; then
	targets[cli_line]="tests/fuzz/fuzz_cli_line.c $(tr '\n' ' ' < src/cli/fuzz-sources.txt) $common"
fi

status=0
for t in "${!targets[@]}"; do
	echo "== fuzz_$t: building"
	# shellcheck disable=SC2086
	clang $CFLAGS -o "$out/fuzz_$t" ${targets[$t]} $LIBS
	corpus="tests/fuzz/corpus-$t"
	mkdir -p "$corpus"
	seeds=tests/fuzz/seeds/${t%%_*}
	echo "== fuzz_$t: running ${secs}s"
	if ! "$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "$corpus" $( [ -d "$seeds" ] && echo "$seeds" ) 2>"$out/fuzz_$t.log"; then
		echo "fuzz_$t: FAILED, see $out/fuzz_$t.log"
		tail -40 "$out/fuzz_$t.log"
		status=1
	else
		grep -E "stat::number_of_executed_units|Done" "$out/fuzz_$t.log" | tail -2
		echo "fuzz_$t: clean"
	fi
done
exit $status
