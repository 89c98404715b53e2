#!/usr/bin/env bash
# Sets up tfembed on a fresh Debian/Ubuntu machine; running it again is harmless.
#   1. the fluidsynth system library and Debian's General MIDI soundfonts
#      (apt-get when run as root, otherwise it says exactly what to install);
#   2. a virtual environment in .venv (override with TFEMBED_VENV);
#   3. the package with the pinned versions of constraints.txt.
# GPU boxes: TFEMBED_TF=gpu bash tools/setup.sh installs the CUDA build of the
# same TensorFlow version (tensorflow[and-cuda]==2.17.1) instead of tensorflow-cpu.
# Extras besides TensorFlow: TFEMBED_EXTRAS (default dev,beam: the tests, and
# Apache Beam for tfembed-prepare --runner beam; TFEMBED_EXTRAS=dev leaves Beam out).
# TFEMBED_VENV=/usr/local installs into the system Python of a container image.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TFEMBED_VENV:-$repo/.venv}"
python="${PYTHON:-python3}"
tf_build="${TFEMBED_TF:-cpu}"
extras="${TFEMBED_EXTRAS:-dev,beam}"

have_fluidsynth() { ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so\.3'; }
# The reference soundfont, then the others the robust recipe renders with or holds out.
soundfont_files=(
  /usr/share/sounds/sf2/FluidR3_GM.sf2
  /usr/share/sounds/sf2/TimGM6mb.sf2
  /usr/share/sounds/sf2/sf_GMbank.sf2
  /usr/share/sounds/sf3/FluidR3Mono_GM.sf3
  /usr/share/sounds/sf2/OPL-3_FM_128M.sf2
)
soundfont_packages="fluid-soundfont-gm timgm6mb-soundfont csound-soundfont fluidr3mono-gm-soundfont opl3-soundfont"
have_soundfonts() {
  for file in "${soundfont_files[@]}"; do [ -e "$file" ] || return 1; done
}

if ! have_fluidsynth || ! have_soundfonts; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing libfluidsynth3 and the soundfonts with apt-get"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libfluidsynth3 $soundfont_packages >/dev/null
  elif ! have_fluidsynth || { [ ! -e "${soundfont_files[0]}" ] && [ -z "${TFEMBED_SOUNDFONT:-}" ]; }; then
    echo "setup: fluidsynth or the soundfont is missing. Install them, then rerun:" >&2
    echo "  sudo apt-get install libfluidsynth3 $soundfont_packages" >&2
    echo "  (or set TFEMBED_SOUNDFONT=/path/to/a/General-MIDI.sf2)" >&2
    exit 1
  else
    echo "setup: for several renderings (--soundfonts), also: sudo apt-get install $soundfont_packages" >&2
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
echo "setup: installing tfembed[$tf_build,$extras] with constraints.txt"
"$venv/bin/python" -m pip install -q -c "$repo/constraints.txt" -e "$repo[$tf_build,$extras]"
echo "setup: done ($venv)"
