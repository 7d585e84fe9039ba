#!/usr/bin/env bash
# Fails when a file in lib/<layer>/ includes a header of a layer above it, or any layer but config includes
# config/ (the config tree is the app's: the library takes typed options).
# Order (low -> high): core config io tokenizer model lora data train eval export
set -u
lib=${1:?usage: layering_check.sh LIB_DIR}
order=(core config io tokenizer model lora data train eval export)
rank() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
for dir in "$lib"/*/; do
  layer=$(basename "$dir"); r=$(rank "$layer")
  [ "$r" -ge 0 ] || continue
  while IFS=: read -r file _ inc; do
    dep=$(sed -E 's/.*#include "([a-z_]+)\/.*/\1/' <<<"$inc")
    d=$(rank "$dep")
    if [ "$dep" = config ] && [ "$layer" != config ]; then
      echo "layering violation: $file includes config/ (only apps/ use the config tree; pass typed options)"; bad=1
    elif [ "$d" -gt "$r" ] || { [ "$layer" = data ] && [ "$dep" = model ]; }; then
      echo "layering violation: $file includes $dep/ (layer '$layer' may not depend on '$dep')"; bad=1
    fi
  done < <(grep -Hn '#include "[a-z_]*/' "$dir"*.h "$dir"*.cpp 2>/dev/null)
done
# Library messages name options as {opt:NAME} (core/error.h); the CLI renders its flags. A flag spelled out
# ("--force") in a string literal of lib/ is a violation (config/ excepted: it is the app's; a line may carry
# "lt-allow-flag" with a reason).
while IFS= read -r hit; do
  echo "flag in a library string (write {opt:NAME}): $hit"; bad=1
done < <(grep -rn --include='*.cpp' --include='*.h' '' "$lib" | grep -v "^$lib/config/" | grep -v 'lt-allow-flag' |
         sed -E 's#^([^:]+:[0-9]+:)(.*)$#\1\2#' | awk -F: '{ line=$0; code=substr(line, length($1)+length($2)+3);
           sub(/\/\/.*$/, "", code); if (code ~ /"[^"]*--[a-z][a-z-]*[a-z]/) print $1 ":" $2 ": " code }')
[ $bad -eq 0 ] && echo "layering ok"
exit $bad
