#!/usr/bin/env bash
# The system packages the test suite needs, and the PostgreSQL service it talks to: the one list that
# `make test` and .ci/run both use (Debian 12).
#
# As root with apt: installs what is missing and starts the local PostgreSQL cluster if it does not answer.
# Otherwise: prints the one command to run and exits 1, so that `make test` stops at once instead of
# skipping the tests that need these services. Does nothing when everything is there.
set -euo pipefail

# package: why, and the check that says it is installed
need=()
missing() { need+=("$1"); }
# sshd and sftp: the SFTP transport's tests run a real OpenSSH server (tests/sshd.py)
{ command -v sshd || [ -x /usr/sbin/sshd ]; } >/dev/null 2>&1 || missing openssh-server
command -v sftp >/dev/null 2>&1 || missing openssh-client
# the browser tests: the console (Playwright) and the HTML compte rendu (A4 print), Debian's Chromium
[ -x /usr/bin/chromium ] || missing chromium
# the console's design system (DSFR), installed from exchange/web/package-lock.json with `npm ci`
command -v npm >/dev/null 2>&1 || missing npm
# the two-host tests (tests/system/test_two_hosts.py): network namespaces, unshare/runuser, a private cluster (initdb)
command -v ip >/dev/null 2>&1 || missing iproute2
{ command -v unshare && command -v runuser; } >/dev/null 2>&1 || missing util-linux
{ ls /usr/lib/postgresql/*/bin/initdb && command -v pg_isready; } >/dev/null 2>&1 || missing postgresql
# the release tests (tests/system/test_operations_guide.py): the guide run from the wheel in Debian's python3 venv,
# the units scored by systemd-analyze, `backup` through pg_dump; `make image` (not in make test): debootstrap, buildah
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing python3-venv
command -v systemd-analyze >/dev/null 2>&1 || missing systemd
command -v pg_dump >/dev/null 2>&1 || missing postgresql-client
command -v ssh-keygen >/dev/null 2>&1 || missing openssh-client
# the spreadsheet fixtures (tests/fixtures/workbooks/make.sh): made and checked with the real programs, French locale
command -v soffice >/dev/null 2>&1 || missing libreoffice-calc-nogui
command -v ssconvert >/dev/null 2>&1 || missing gnumeric
command -v locale-gen >/dev/null 2>&1 || missing locales

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installation des paquets système nécessaires aux tests : ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "Paquets système manquants pour les tests : ${need[*]}." >&2
    echo "Installez-les (une fois), puis relancez make test :" >&2
    echo "  sudo $0" >&2
    exit 1
  fi
fi

# PostgreSQL at 127.0.0.1:5432 (trust auth, database `test`): started here if the machine has not.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "PostgreSQL ne répond pas sur 127.0.0.1:5432 : les tests l'attendent (authentification trust," >&2
    echo "base test). Démarrez-le, par exemple :" >&2
    echo "  sudo pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql | sort -V | tail -1) main start" >&2
    exit 1
  fi
fi
