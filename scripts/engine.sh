#!/usr/bin/env bash
# Start, stop or inspect a Docker engine from Debian's packages for `make images` and the real-engine tests.
#
#   scripts/engine.sh start    # reuse an engine that answers, else install (if missing) and start ours
#   scripts/engine.sh stop     # stop only the dockerd whose PID is in our pid file
#   scripts/engine.sh status   # does an engine answer, which version, is it ours
#
# ENGINE=trixie (default): Debian trixie's docker.io 26.1.5 (API 1.45), docker-cli and containerd from a
#   low-priority (pin 100) trixie apt source; everything else, runc and tini included, stays bookworm's.
#   API 1.45 is the first where volume subpaths work (the 20.10 daemon silently ignores them).
# ENGINE=bookworm: bookworm's docker.io 20.10 (API 1.41).
#
# Our dockerd keeps its data root, exec root, pid file and log under ENGINE_STATE_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform/engine), outside the repository; the data root persists
# across runs so built images stay cached. It listens on /var/run/docker.sock only when nothing is there,
# otherwise on a socket in the state dir (the script prints the DOCKER_HOST to export).
set -euo pipefail

ENGINE="${ENGINE:-trixie}"
STATE_DIR="${ENGINE_STATE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/payment-platform/engine}"
PID_FILE="$STATE_DIR/dockerd.pid"
HOST_FILE="$STATE_DIR/dockerd.host"
LOG_FILE="$STATE_DIR/dockerd.log"
DATA_ROOT="$STATE_DIR/data"
EXEC_ROOT="$STATE_DIR/exec"
DEFAULT_SOCKET="/var/run/docker.sock"
START_TIMEOUT="${ENGINE_START_TIMEOUT:-90}"
STOP_TIMEOUT="${ENGINE_STOP_TIMEOUT:-30}"
TRIXIE_LIST="/etc/apt/sources.list.d/payment-platform-trixie.list"
TRIXIE_PIN="/etc/apt/preferences.d/payment-platform-trixie"
TRIXIE_PACKAGES=(docker.io docker-cli containerd)
# `pkg/trixie`, not `-t trixie`: -t raises every trixie package to priority 990 for that run, and the
# simulated install then planned ~180 packages from trixie (libc6, perl, systemd, ...). Recommends are
# left out too: they would add trixie's docker-buildx (and BuildKit) that the image builds must not rely on.
TRIXIE_SELECTION=(docker.io/trixie docker-cli/trixie containerd/trixie)

log() { printf 'engine: %s\n' "$*"; }
die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }

# `docker info` against one host, quietly; prints "server-version api-version" when it answers.
engine_version() {
    local host="$1"
    DOCKER_HOST="$host" timeout 10 docker version --format '{{.Server.Version}} {{.Server.APIVersion}}' 2>/dev/null
}

# The PID in our pid file, if that process is a live dockerd.
our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(tr -dc '0-9' <"$PID_FILE")"
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "dockerd" ]] || return 1
    printf '%s\n' "$pid"
}

# The DOCKER_HOST values to try: the caller's, then the default socket, then ours.
candidate_hosts() {
    [[ -n "${DOCKER_HOST:-}" ]] && printf '%s\n' "$DOCKER_HOST"
    printf 'unix://%s\n' "$DEFAULT_SOCKET"
    [[ -f "$HOST_FILE" ]] && cat "$HOST_FILE"
    return 0
}

# First host that answers, as "host server-version api-version".
answering_engine() {
    local host version
    while read -r host; do
        [[ -n "$host" ]] || continue
        if version="$(engine_version "$host")" && [[ -n "$version" ]]; then
            printf '%s %s\n' "$host" "$version"
            return 0
        fi
    done < <(candidate_hosts | awk '!seen[$0]++')
    return 1
}

flavour_of_version() {
    case "$1" in
        20.10.*) echo bookworm ;;
        26.1.*) echo trixie ;;
        *) echo "other:$1" ;;
    esac
}

current_flavour() {
    local version
    version="$(dpkg-query -W -f='${Status} ${Version}' docker.io 2>/dev/null || true)"
    if [[ "$version" == "install ok installed "* ]]; then
        flavour_of_version "${version##* }"
    else
        echo none
    fi
}

# Package maintainer scripts must not start a system dockerd (it would use /var/lib/docker and docker0).
with_services_blocked() {
    local created=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created=1
    fi
    local rc=0
    "$@" || rc=$?
    if ((created)); then rm -f /usr/sbin/policy-rc.d; fi
    return "$rc"
}

add_trixie_source() {
    if [[ ! -f "$TRIXIE_LIST" ]]; then
        log "adding $TRIXIE_LIST (trixie main, pinned to priority 100)"
        echo "deb http://deb.debian.org/debian trixie main" >"$TRIXIE_LIST"
    fi
    if [[ ! -f "$TRIXIE_PIN" ]]; then
        cat >"$TRIXIE_PIN" <<'EOF'
# payment-platform scripts/engine.sh: trixie packages are installed only when asked for by name.
Package: *
Pin: release n=trixie
Pin-Priority: 100
EOF
    fi
}

# Fails unless a simulated install takes exactly TRIXIE_PACKAGES (at most) from trixie.
check_trixie_plan() {
    local plan from_trixie unexpected
    plan="$(apt-get install -s --no-install-recommends "${TRIXIE_SELECTION[@]}")"
    # "Inst pkg [old] (version Debian:13.x/stable [arch])": trixie is Debian 13. A version published in
    # both releases ("Debian:12.y/oldstable, Debian:13.x/stable") is bookworm's as well, so it is fine.
    from_trixie="$(awk '/^Inst / && /Debian:13/ && !/Debian:12/ {print $2}' <<<"$plan" | sort -u)"
    unexpected="$(comm -23 <(printf '%s\n' "$from_trixie") <(printf '%s\n' "${TRIXIE_PACKAGES[@]}" | sort -u) | grep . || true)"
    log "simulated install, packages from trixie: $(paste -sd" " <<<"$from_trixie")"
    if [[ -n "$unexpected" ]]; then
        printf '%s\n' "$plan" >&2
        die "installing ${TRIXIE_SELECTION[*]} would also pull from trixie: $(paste -sd" " <<<"$unexpected"); refusing"
    fi
    [[ -n "$from_trixie" ]] || die "the simulated install takes nothing from trixie; is $TRIXIE_LIST reachable?"
}

install_engine() {
    local want="$1" have
    have="$(current_flavour)"
    if [[ "$have" == "$want" ]] && command -v dockerd >/dev/null; then
        log "docker.io ($want flavour, $(dpkg-query -W -f='${Version}' docker.io)) already installed"
        return 0
    fi
    if [[ "$have" != none ]]; then
        log "docker.io installed is the '$have' flavour, '$want' was asked for: reinstalling"
    fi
    local started=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    case "$want" in
        trixie)
            add_trixie_source
            log "apt-get update"
            apt-get update -qq
            check_trixie_plan
            log "installing ${TRIXIE_SELECTION[*]}"
            with_services_blocked apt-get install -y -qq --no-install-recommends "${TRIXIE_SELECTION[@]}" >/dev/null
            ;;
        bookworm)
            apt-get update -qq
            if dpkg-query -W -f='${Status}' docker-cli 2>/dev/null | grep -q 'install ok installed'; then
                # trixie's docker-cli would be orphaned: bookworm's docker.io ships its own client.
                with_services_blocked apt-get remove -y -qq docker-cli >/dev/null
            fi
            with_services_blocked apt-get install -y -qq --allow-downgrades \
                docker.io/bookworm containerd/bookworm >/dev/null
            ;;
        *) die "ENGINE must be trixie or bookworm, not '$want'" ;;
    esac
    have="$(current_flavour)"
    [[ "$have" == "$want" ]] || die "after install docker.io is '$have', not '$want'"
    log "installed docker.io $(dpkg-query -W -f='${Version}' docker.io) in $((SECONDS - started)) s"
}

cmd_start() {
    local found
    if found="$(answering_engine)"; then
        read -r host version api <<<"$found"
        if pid="$(our_pid)"; then
            log "our engine (pid $pid) already answers at $host: server $version, API $api"
        else
            log "an engine already answers at $host: server $version, API $api (not started by this script); using it"
        fi
        [[ "$host" == "unix://$DEFAULT_SOCKET" ]] || log "export DOCKER_HOST=$host"
        return 0
    fi
    if pid="$(our_pid)"; then
        die "our dockerd (pid $pid) is running but does not answer; see $LOG_FILE, or run '$0 stop'"
    fi
    local other
    other="$(pgrep -x dockerd || true)"
    if [[ -n "$other" ]]; then
        # A second daemon sharing docker0 or iptables chains with another breaks its containers.
        die "another dockerd (pid $(paste -sd" " <<<"$other")) runs but does not answer on $(candidate_hosts | paste -sd' '); set DOCKER_HOST to it"
    fi

    install_engine "$ENGINE"

    mkdir -p "$DATA_ROOT" "$EXEC_ROOT"
    local host
    if [[ -e "$DEFAULT_SOCKET" ]]; then
        host="unix://$STATE_DIR/docker.sock"
        log "$DEFAULT_SOCKET exists but nothing answers there: listening on $host instead"
    else
        host="unix://$DEFAULT_SOCKET"
    fi
    rm -f "$PID_FILE"
    log "starting dockerd (data root $DATA_ROOT, log $LOG_FILE)"
    local started=$SECONDS pid
    # setsid: the daemon outlives this shell and the terminal that started it.
    setsid dockerd \
        --host "$host" \
        --data-root "$DATA_ROOT" \
        --exec-root "$EXEC_ROOT" \
        --pidfile "$PID_FILE" \
        </dev/null >>"$LOG_FILE" 2>&1 &
    pid=$!
    echo "$host" >"$HOST_FILE"
    local version=""
    while ((SECONDS - started < START_TIMEOUT)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$LOG_FILE" >&2
            die "dockerd (pid $pid) exited during start; log: $LOG_FILE"
        fi
        if version="$(engine_version "$host")" && [[ -n "$version" ]]; then
            break
        fi
        sleep 0.5
    done
    if [[ -z "$version" ]]; then
        tail -n 20 "$LOG_FILE" >&2
        die "dockerd (pid $pid) did not answer within ${START_TIMEOUT} s; log: $LOG_FILE (still running: '$0 stop')"
    fi
    # dockerd writes its own pid file; keep ours authoritative in case it has not yet.
    [[ -s "$PID_FILE" ]] || echo "$pid" >"$PID_FILE"
    read -r server api <<<"$version"
    log "dockerd (pid $pid) answered after $((SECONDS - started)) s: server $server, API $api, at $host"
    [[ "$host" == "unix://$DEFAULT_SOCKET" ]] || log "export DOCKER_HOST=$host"
}

cmd_stop() {
    local pid
    if ! pid="$(our_pid)"; then
        log "no dockerd of ours is running (pid file $PID_FILE); nothing stopped"
        return 0
    fi
    log "stopping our dockerd (pid $pid)"
    local started=$SECONDS
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - started < STOP_TIMEOUT)); do
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        die "dockerd (pid $pid) still runs ${STOP_TIMEOUT} s after SIGTERM; see $LOG_FILE"
    fi
    rm -f "$PID_FILE" "$HOST_FILE"
    log "dockerd (pid $pid) stopped after $((SECONDS - started)) s"
}

cmd_status() {
    local found pid
    if found="$(answering_engine)"; then
        read -r host version api <<<"$found"
        log "an engine answers at $host: server $version, API $api"
        if pid="$(our_pid)" && [[ -f "$HOST_FILE" && "$(cat "$HOST_FILE")" == "$host" ]]; then
            log "it is ours: dockerd pid $pid, state $STATE_DIR"
        else
            log "it is not ours (started outside scripts/engine.sh)"
        fi
    else
        log "no engine answers (tried: $(candidate_hosts | awk '!seen[$0]++' | paste -sd' '))"
        if pid="$(our_pid)"; then log "our dockerd (pid $pid) runs but does not answer; see $LOG_FILE"; fi
        log "installed docker.io flavour: $(current_flavour)"
        return 1
    fi
}

# Checked before anything else, so a typo never installs or starts anything.
case "$ENGINE" in
    trixie | bookworm) ;;
    *) die "ENGINE=$ENGINE: expected trixie (docker.io 26.1.5, the default) or bookworm (20.10)" ;;
esac

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 start|stop|status   (ENGINE=trixie|bookworm, ENGINE_STATE_DIR=...)" >&2
        exit 2
        ;;
esac
