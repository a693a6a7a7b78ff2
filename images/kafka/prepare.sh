#!/bin/sh
# Fetches the Kafka broker's jars (pom.xml: kafka_2.13, kafka-tools, Log4j 2, and what they need at run
# time) from Maven Central into $OUT/libs. Cached: with the same pom.xml already fetched it does nothing.
set -eu
: "${OUT:?set OUT to the artifacts folder (scripts/images.py does)}"
here=$(cd "$(dirname "$0")" && pwd)
stamp="$OUT/pom.sha256"
want=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
if [ -d "$OUT/libs" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "kafka libs: cached in $OUT/libs ($(find "$OUT/libs" -name '*.jar' | wc -l) jars)"
  exit 0
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform"
start=$(date +%s)
rm -rf "$OUT/libs.tmp"
nice mvn -B -q -f "$here/pom.xml" -Dmaven.repo.local="$cache/maven/repository" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$OUT/libs.tmp"
chmod 0644 "$OUT"/libs.tmp/*.jar
rm -rf "$OUT/libs"
mv "$OUT/libs.tmp" "$OUT/libs"
echo "$want" >"$stamp"
echo "kafka libs: $(find "$OUT/libs" -name '*.jar' | wc -l) jars fetched in $(($(date +%s) - start)) s"
