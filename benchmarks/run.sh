#!/usr/bin/env bash
# The side-by-side benchmark in one command, from any directory:
#   benchmarks/run.sh [--quick] [--runs N] [more options: benchmarks/run.sh --help]
# Installs the library from this checkout into the local Maven repository, then compiles and runs
# the benchmark module, which starts (and stops) every member JVM and the Redis server itself.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q install -DskipTests
exec mvn -B -q -f benchmarks/pom.xml compile exec:exec -Dbench.args="$*"
