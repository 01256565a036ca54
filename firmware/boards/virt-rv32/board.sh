# What firmware/*.sh need to know about this board (sourced, bash).
# shellcheck shell=bash disable=SC2034
target=riscv32imac-unknown-none-elf
# riscv-rt's names for the ends of the stack (size.sh).
stack_top=_stack_start stack_bottom=__estack
# QEMU virt with an RV32 hart, no firmware (the image starts in M-mode at 0x80000000), a
# virtio-net device on TAP $1 and a virtio-rng device (the seed's entropy), the image $2.
# Legacy virtio-mmio is QEMU's default; add `-global virtio-mmio.force-legacy=false` for
# the modern transport.
qemu_package=qemu-system-misc
qemu_command() {
    qemu=(qemu-system-riscv32 -M virt -bios none -nographic -monitor none -serial stdio
        -netdev "tap,id=n0,ifname=$1,script=no,downscript=no" -device virtio-net-device,netdev=n0
        -device virtio-rng-device -kernel "$2")
}
