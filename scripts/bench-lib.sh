# Sourced by the benchmark scripts (scripts/bench-*.sh).
# bench_builds LIST: builds loratune for each of "debian,pip" given and sets the array build_list, the map
# bins (build -> loratune binary) and lt0 (the first build's binary). An unknown build exits 2.
bench_builds() {
  declare -gA bins
  IFS=',' read -r -a build_list <<<"$1"
  for b in "${build_list[@]}"; do
    case "$b" in
      debian) LORATUNE_TORCH=debian scripts/build.sh --target loratune >/dev/null; bins[$b]=build/apps/loratune/loratune ;;
      pip) LORATUNE_TORCH=pip scripts/build.sh --target loratune >/dev/null; bins[$b]=build-torch2/apps/loratune/loratune ;;
      *) echo "error: --builds takes debian and/or pip, not '$b'" >&2; exit 2 ;;
    esac
  done
  lt0=${bins[${build_list[0]}]}
}
