# What firmware/*.sh need to know about this board (sourced, bash). A real board: built
# and sized, not run under QEMU (README "Nucleo-F429ZI" says how to flash it).
# shellcheck shell=bash disable=SC2034
target=thumbv7em-none-eabihf
