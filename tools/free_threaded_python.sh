#!/usr/bin/env bash
# Prints the path of a free-threaded CPython (PEP 703, the GIL removed), finding or building one.
#
#   tools/free_threaded_python.sh         free-threaded: PYTHON_FT if set, else python3.14t or python3.13t on PATH,
#                                         else pyenv's 3.13t+ (newest first), else this script's own build in the
#                                         cache, else it builds one there (once per machine)
#   tools/free_threaded_python.sh --gil   the with-GIL twin of that build: the same version, source and configure
#                                         flags less --disable-gil, to measure what the GIL itself costs
#
# Each interpreter found must report sysconfig's Py_GIL_DISABLED == 1 (0 for the twin). The build is CPython's
# upstream source: the orig tarball of Debian's source package python3.14 (unstable, experimental, forky), else
# python3.13 (unstable, then trixie), the newest version that the index lists and that downloads. apt-get source
# fetches it through a private apt configuration made from the machine's own Debian mirror, so the system's sources
# and lists stay as they are. Debian's patches are not applied. Configure: --disable-gil --prefix=CACHE/cpython-Vt
# and nothing else (no PGO, no LTO: --enable-optimizations and --with-lto are left out, to keep the build to
# minutes). The build's libraries come from the machine's own suite (apt-get install).
# Cache: ${XDG_CACHE_HOME:-~/.cache}/tornado-bench/ (cpython-3.13.15t/, cpython-3.13.15/, sources/).
#
# Progress goes to stderr, the path alone to stdout. On failure: one line on stderr, exit status 2.
# FT_SERIES="3.14 3.13" sets which minor versions to look for, newest first.
set -uo pipefail

ME=${0##*/}
GIL=0
case "${1:-}" in
    "") ;;
    --gil) GIL=1 ;;
    -h|--help) sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "$ME: unknown argument $1 (--gil or nothing)" >&2; exit 2 ;;
esac

read -ra SERIES <<<"${FT_SERIES:-3.14 3.13}"
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/tornado-bench
SUITES=(unstable experimental forky trixie)   # the Debian suites whose source packages are looked at
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
JOBS=$(nproc 2>/dev/null || echo 2)
if [ "$GIL" = 1 ]; then SUFFIX=""; WANT=0; else SUFFIX=t; WANT=1; fi   # cpython-3.13.15 or cpython-3.13.15t

die() { echo "$ME: $*" >&2; exit 2; }
say() { echo "[$ME] $*" >&2; }

TMP=""
STAGE=""
CHILD=""
TWIN_OF=""
# shellcheck disable=SC2317  # run by the traps below
cleanup() {
    if [ -n "$CHILD" ]; then   # a step still running (interrupted): stop its whole process group first
        kill -TERM -- "-$CHILD" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$CHILD" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$CHILD" 2>/dev/null
        wait "$CHILD" 2>/dev/null
    fi
    if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
    if [ -n "$STAGE" ]; then rm -rf "$STAGE"; fi
    rmdir "$CACHE/sources" "$CACHE" 2>/dev/null   # a cache that a failed first build left empty
    return 0
}
trap cleanup EXIT
trap 'echo "$ME: interrupted" >&2; exit 2' INT TERM

# is_python PATH WANT: PATH runs, is Python >= 3.13 and reports Py_GIL_DISABLED == WANT.
is_python() {
    "$1" -c 'import sys, sysconfig
sys.exit(sys.version_info < (3, 13) or (sysconfig.get_config_var("Py_GIL_DISABLED") or 0) != int(sys.argv[1]))' \
        "$2" >/dev/null 2>&1
}

found() { say "using $1 (Python $("$1" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null))"; echo "$1"; exit 0; }

# newest DIR...: the arguments that exist, newest version first.
newest() { local d; for d in "$@"; do [ -e "$d" ] && echo "$d"; done | sort -rV; }

# cached SUFFIX WANT: the newest of this script's own builds in the cache, of that kind.
cached() {
    local d
    while read -r d; do
        [[ ${d##*/} =~ ^cpython-[0-9.]+$1$ ]] && is_python "$d/bin/python3" "$2" && { echo "$d/bin/python3"; return 0; }
    done < <(newest "$CACHE"/cpython-3.*)
    return 1
}

# A step of the build, timed, its output in the log. It runs in a process group of its own so that an interrupt
# stops all of it (make -j runs several compilers).
STEP_T0=0
step() { say "$1 ..."; STEP_T0=$SECONDS; }
step_done() { say "  done in $((SECONDS - STEP_T0)) s"; }
run() {
    setsid "$@" >>"$LOG" 2>&1 </dev/null &
    CHILD=$!
    wait "$CHILD"
    local rc=$?
    CHILD=""
    return $rc
}

# -- 1. Find one. ------------------------------------------------------------------------------------------------
if [ "$GIL" = 0 ]; then
    if [ -n "${PYTHON_FT:-}" ]; then
        is_python "$PYTHON_FT" 1 || die "PYTHON_FT=$PYTHON_FT is not a free-threaded Python >= 3.13"
        found "$(command -v "$PYTHON_FT")"
    fi
    for s in "${SERIES[@]}"; do
        p=$(command -v "python${s}t") && is_python "$p" 1 && found "$p"
    done
    while read -r d; do
        is_python "$d/bin/python3" 1 && found "$d/bin/python3"
    done < <(newest "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*t)
    p=$(cached t 1) && found "$p"
else
    # The twin's version is that of the newest free-threaded build in the cache (else the newest to be had).
    if FT=$(cached t 1); then
        TWIN_OF=${FT%/bin/python3}; TWIN_OF=${TWIN_OF##*/cpython-}; TWIN_OF=${TWIN_OF%t}
        is_python "$CACHE/cpython-$TWIN_OF/bin/python3" 0 && found "$CACHE/cpython-$TWIN_OF/bin/python3"
    else
        p=$(cached "" 0) && found "$p"
    fi
fi

# -- 2. Build one. -----------------------------------------------------------------------------------------------
command -v apt-get >/dev/null || die "no free-threaded Python found, and no apt-get to fetch CPython's source with"
mkdir -p "$CACHE/sources" || die "cannot create the cache folder $CACHE"

# One build at a time on a machine: a second run waits, then finds the first one's build.
if command -v flock >/dev/null; then
    exec 9<"$CACHE"
    flock -n 9 || { say "another build is under way in $CACHE: waiting for it"; flock 9; }
    if [ -n "$TWIN_OF" ]; then
        is_python "$CACHE/cpython-$TWIN_OF/bin/python3" 0 && found "$CACHE/cpython-$TWIN_OF/bin/python3"
    else
        p=$(cached "$SUFFIX" "$WANT") && found "$p"
    fi
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/free-threaded-python.XXXXXX") || die "cannot create a temporary folder"
LOG=$TMP/build.log
T_ALL=$SECONDS

# The build's libraries, from the machine's own suite (its lists refreshed only if the install fails without).
DEPS=(build-essential pkg-config xz-utils libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev libsqlite3-dev
      libreadline-dev libncurses-dev uuid-dev libgdbm-dev libgdbm-compat-dev)
MISSING=()
for p in "${DEPS[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || MISSING+=("$p")
done
if [ ${#MISSING[@]} -gt 0 ]; then
    SUDO=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "building CPython needs ${MISSING[*]}, and installing them root or sudo"
        SUDO=(sudo)
    fi
    INSTALL=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${MISSING[@]}")
    step "installing the build's libraries: ${MISSING[*]}"
    run "${INSTALL[@]}" || { run "${SUDO[@]}" apt-get update -qq && run "${INSTALL[@]}"; } ||
        die "apt-get install of the build's libraries failed: ${MISSING[*]}"
    step_done
fi

# The twin of an earlier build: its tarball is in the cache, no download.
TARBALL=""
if [ -n "$TWIN_OF" ]; then
    TARBALL=$(newest "$CACHE"/sources/python3.*_"$TWIN_OF".orig.tar.* | head -1)
fi

if [ -z "$TARBALL" ]; then
    # A private apt: deb-src lines for the suites above on the mirrors of the machine's own Debian sources (as apt
    # itself reads them from /etc/apt/sources.list and sources.list.d/, one-line and deb822 files alike: the
    # entries of the machine's own release, its security archive left out), in lists and caches of its own.
    CODENAME=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
    # shellcheck disable=SC2016  # apt's own $(FIELD) placeholders
    mapfile -t MIRRORS < <(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk -v c="$CODENAME" 'c != "" && $2 !~ /-security$/ && ($2 == c || index($2, c "-") == 1) {print $1}' |
        sort -u)
    [ ${#MIRRORS[@]} -gt 0 ] ||
        die "no Debian mirror for ${CODENAME:-this release} among apt's sources, to fetch CPython's source from"
    APT=$TMP/apt
    mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/src"
    SIGNED=""
    [ -r "$KEYRING" ] && SIGNED=" [signed-by=$KEYRING]"
    for m in "${MIRRORS[@]}"; do for s in "${SUITES[@]}"; do echo "deb-src$SIGNED $m $s main"; done; done \
        >"$APT/sources.list"
    APTOPT=(-o "Dir::Etc::sourcelist=$APT/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$APT/lists"
            -o "Dir::Cache=$APT/cache" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
            -o APT::Sandbox::User=root)
    step "reading the source index of Debian's ${SUITES[*]} (${MIRRORS[*]})"
    run apt-get "${APTOPT[@]}" update || die "apt-get update of the private source lists failed: $(tail -1 "$LOG")"
    step_done

    # Every version the index lists, newest first (3.14 before 3.13), each tried until one downloads.
    cd "$APT/src" || die "cannot enter $APT/src"
    for s in "${SERIES[@]}"; do
        if [ -n "$TWIN_OF" ] && [ "${TWIN_OF%.*}" != "$s" ]; then continue; fi
        mapfile -t VERSIONS < <(apt-cache "${APTOPT[@]}" madison "python$s" 2>/dev/null |
            awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -urV)
        [ ${#VERSIONS[@]} -gt 0 ] || say "python$s: no source package listed"
        for v in "${VERSIONS[@]}"; do
            up=${v%-*}; up=${up#*:}
            if [ -n "$TWIN_OF" ] && [ "$up" != "$TWIN_OF" ]; then continue; fi
            step "downloading python$s $v"
            if run apt-get "${APTOPT[@]}" source --download-only --tar-only "python$s=$v"; then
                TARBALL=$(newest "$APT/src/python${s}_$up".orig.tar.* | head -1)
                if [ -n "$TARBALL" ]; then step_done; break 2; fi
                say "  python$s $v: downloaded, but no orig tarball in it"
            else
                say "  python$s $v: $(grep -m1 -o 'Failed to fetch.*' "$LOG" | sed 's/ *\[IP:.*//' || echo 'download failed')"
            fi
            : >"$LOG"
        done
    done
    [ -n "$TARBALL" ] || die "no CPython source of ${TWIN_OF:-${SERIES[*]}} could be downloaded from Debian's source packages"
    mv "$TARBALL" "$CACHE/sources/" || die "cannot write to $CACHE/sources"
    TARBALL=$CACHE/sources/${TARBALL##*/}
fi

VERSION=${TARBALL##*/}; VERSION=${VERSION#*_}; VERSION=${VERSION%.orig.tar.*}
PREFIX=$CACHE/cpython-$VERSION$SUFFIX
FLAGS=(--prefix="$PREFIX")
[ "$GIL" = 1 ] || FLAGS=(--disable-gil "${FLAGS[@]}")

fail() {
    cp "$LOG" "$CACHE/build-$VERSION$SUFFIX.log" 2>/dev/null
    die "$1 (its last line: $(tail -1 "$LOG" | cut -c1-160); the whole log: $CACHE/build-$VERSION$SUFFIX.log)"
}
step "unpacking ${TARBALL##*/}"
mkdir "$TMP/build" || die "cannot create $TMP/build"
run tar -xf "$TARBALL" -C "$TMP/build" || fail "cannot unpack $TARBALL"
SRC=$(newest "$TMP"/build/*/configure | head -1)
[ -n "$SRC" ] || die "$TARBALL holds no CPython source (no configure)"
cd "${SRC%/configure}" || die "cannot enter ${SRC%/configure}"
step_done

T_BUILD=$SECONDS
step "configuring CPython $VERSION: ./configure ${FLAGS[*]}"
run ./configure "${FLAGS[@]}" || fail "./configure failed"
step_done
step "compiling (make -j$JOBS)"
run make -j"$JOBS" || fail "make failed"
step_done
# Installed into a staging folder in the cache, then moved into place at once: an interrupted build leaves nothing
# that looks finished.
STAGE=$(mktemp -d "$CACHE/.install.XXXXXX") || die "cannot create a staging folder in $CACHE"
step "installing into $PREFIX"
run make install DESTDIR="$STAGE" || fail "make install failed"
rm -rf "$PREFIX" || fail "cannot remove the old $PREFIX"
mv "$STAGE$PREFIX" "$PREFIX" || fail "cannot move the build into $PREFIX"
step_done
is_python "$PREFIX/bin/python3" "$WANT" || fail "the built $PREFIX/bin/python3 does not report Py_GIL_DISABLED=$WANT"
cat >"$PREFIX/build-info.txt" <<EOF
CPython $VERSION built by tools/free_threaded_python.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -m), make -j$JOBS
source: ${TARBALL##*/}, the orig tarball of Debian's python${VERSION%.*} source package (Debian's patches not applied)
configure: ${FLAGS[*]} (no --enable-optimizations, no --with-lto)
configure + make + make install: $((SECONDS - T_BUILD)) s
EOF
say "built CPython $VERSION$SUFFIX in $((SECONDS - T_BUILD)) s (configure, make, make install; $((SECONDS - T_ALL)) s in all)"
found "$PREFIX/bin/python3"
