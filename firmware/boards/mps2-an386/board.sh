# What firmware/*.sh need to know about this board (sourced, bash).
# shellcheck shell=bash disable=SC2034
target=thumbv7em-none-eabihf
# QEMU boards: the command that runs image $2 with its Ethernet on TAP $1 and its serial
# port on stdout, in the array `qemu`; the Debian package that has it.
qemu_package=qemu-system-arm
qemu_command() {
    qemu=(qemu-system-arm -M mps2-an386 -nographic -monitor none -serial stdio
        -nic "tap,ifname=$1,script=no,downscript=no,model=lan9118" -kernel "$2")
}
