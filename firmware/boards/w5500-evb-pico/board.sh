# What firmware/*.sh need to know about this board (sourced, bash). A real board: built
# and sized, not run under QEMU (README "W5500-EVB-Pico" says how to flash it by UF2).
# shellcheck shell=bash disable=SC2034
target=thumbv6m-none-eabi
