/*
 * Stand-in bcryptprimitives.dll for Wine 8 (Debian 12), which lacks it: Rust's std (1.78+)
 * gets its random bytes from bcryptprimitives!ProcessPrng, and without this DLL every Rust
 * .exe exits with code 53 before main. Wine 9+ ships the DLL; real Windows always has it.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -shared -s -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 * and copy it into $WINEPREFIX/drive_c/windows/system32/ (see .ci/run).
 */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: fill in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
