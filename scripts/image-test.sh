#!/bin/bash
# make image-test: the image does what docs/operations.md §0.17 « En conteneur » says, with its commands as
# written (docker = podman here): db upgrade, a Habpps import and a cycle on the example files, inside the image.
# Run as root. /etc and /srv are overlays in a private mount namespace: the host's stay untouched.
set -euo pipefail
IMAGE=${1:-localhost/esat-exchange:latest}
DIST=${DIST:-dist}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /var/tmp/esat-image-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$ROOT/scripts/guide-blocks.py" image-test > "$work/commands.sh"
test -s "$work/commands.sh" || { echo "aucun bloc image-test dans docs/operations.md" >&2; exit 1; }
# the release folder holds esat-exchange.toml.sample, as for an administrator
cp "$ROOT/$DIST/esat-exchange.toml.sample" "$work/"
mkdir -p "$work/etc-up" "$work/etc-work" "$work/srv-up" "$work/srv-work"
cat > "$work/run.sh" <<SCRIPT
set -euo pipefail
mount -t overlay overlay -o lowerdir=/etc,upperdir=$work/etc-up,workdir=$work/etc-work /etc
mount -t overlay overlay -o lowerdir=/srv,upperdir=$work/srv-up,workdir=$work/srv-work /srv
# what the Caf brings: its Habpps extract, and the Esats' files in the local drop area (settled: 2 hours old)
mkdir -p /srv/habpps/2025-12-01 /srv/esat-exchange/zone-de-depot
cp $ROOT/fixtures/examples/habpps/*.csv /srv/habpps/2025-12-01/
cp -r $ROOT/fixtures/examples/drop/. /srv/esat-exchange/zone-de-depot/
find /srv/esat-exchange -exec touch -d '2 hours ago' {} +
chown -R 10001:10001 /srv/esat-exchange
# docker: podman where it can run containers; here podman's runtime cannot (crun: setrlimit denied in this sandbox)
# and buildah run --isolation chroot mounts only the first --volume, so « docker run » is played as a runtime would:
# the image's root file system (buildah mount), the volumes bound into it, then chroot to the image's USER, in its
# WORKDIR, with its ENV, running its ENTRYPOINT followed by the command given.
docker() {
  if [ "\${ESAT_IMAGE_ENGINE:-chroot}" = podman ]; then podman "\$@"; return; fi
  [ "\$1" = run ] || { echo "docker \$1 : seul « run » est pris en charge ici" >&2; return 2; }
  shift
  local vols=()
  while [ \$# -gt 0 ]; do
    case "\$1" in
      --rm|-i|-t|-it) shift ;;
      -v|--volume) vols+=("\$2"); shift 2 ;;
      -*) echo "docker run \$1 : option non prise en charge ici" >&2; return 2 ;;
      *) break ;;
    esac
  done
  local image=\$1; shift
  local ctr mnt v src dst opt user workdir rc=0
  local entry=() envs=()
  mapfile -t entry < <(buildah inspect --type image --format '{{range .Docker.Config.Entrypoint}}{{println .}}{{end}}' "\$image")
  mapfile -t envs < <(buildah inspect --type image --format '{{range .Docker.Config.Env}}{{println .}}{{end}}' "\$image")
  user=\$(buildah inspect --type image --format '{{.Docker.Config.User}}' "\$image")
  workdir=\$(buildah inspect --type image --format '{{.Docker.Config.WorkingDir}}' "\$image")
  ctr=\$(buildah from --quiet "\$image")
  mnt=\$(buildah mount "\$ctr")
  mount --rbind /dev "\$mnt/dev"
  mount --rbind /proc "\$mnt/proc"
  for v in "\${vols[@]}"; do
    src=\${v%%:*}; dst=\${v#*:}; opt=""
    case "\$dst" in *:ro) opt=ro; dst=\${dst%:ro} ;; esac
    mkdir -p "\$mnt\$dst"
    mount --bind "\$src" "\$mnt\$dst"
    if [ "\$opt" = ro ]; then mount -o remount,bind,ro "\$mnt\$dst"; fi
  done
  env -i "\${envs[@]}" chroot --userspec="\$user" "\$mnt" /bin/sh -c 'cd "\$0" && exec "\$@"' "\$workdir" "\${entry[@]}" "\$@" || rc=\$?
  for v in "\${vols[@]}"; do dst=\${v#*:}; umount "\$mnt\${dst%:ro}"; done
  umount -R "\$mnt/dev" "\$mnt/proc"
  buildah umount "\$ctr" >/dev/null
  buildah rm "\$ctr" >/dev/null
  return \$rc
}
cd $work
set -x
. $work/commands.sh
set +x
echo "--- ce que l'image a écrit sur le volume :"
find /srv/esat-exchange -path '*/retour/*' -type f -printf '%u:%g %m %p\n' | sort
test -n "\$(find /srv/esat-exchange/zone-de-depot -path '*/retour/*.CR.csv' -user 10001 -group 10001)"
test -f /srv/esat-exchange/exchange.db && test "\$(stat -c %u:%g /srv/esat-exchange/exchange.db)" = 10001:10001
docker run --rm \$VOLUMES "$IMAGE" --version
docker run --rm \$VOLUMES "$IMAGE" files list --format csv | tee $work/files.csv
test "\$(tail -n +2 $work/files.csv | wc -l)" -ge 1
SCRIPT
unshare --mount --propagation private bash "$work/run.sh"
# what the image declares: the pinned user, the volume, the health check on /sante/vivant
buildah inspect --type image "$IMAGE" | python3 -c '
import json, sys
config = json.load(sys.stdin)["Docker"]["config"]
assert config["User"] == "10001:10001", config["User"]
assert "/var/lib/esat-exchange" in config["Volumes"], config["Volumes"]
assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/esat-exchange-healthcheck"], config["Healthcheck"]
print("image : utilisateur 10001:10001, volume /var/lib/esat-exchange, HEALTHCHECK", config["Healthcheck"]["Test"][1])
'
ctr=$(buildah from --quiet "$IMAGE")
buildah run --isolation chroot "$ctr" -- grep -q sante/vivant /usr/local/bin/esat-exchange-healthcheck
buildah rm "$ctr" >/dev/null
echo "image-test : OK"
