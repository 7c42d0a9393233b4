//! Page mappings for pointer tests: holes (addresses that are reserved but
//! inaccessible) and read-only pages.

use crate::dev::{errno, errno_name};

pub const PAGE: usize = 4096;

/// An anonymous private mapping of `pages` pages with `prot`, at an address
/// the kernel picks.
pub fn map(pages: usize, prot: i32) -> Result<usize, String> {
    // SAFETY: A new anonymous mapping at an address the kernel picks: it
    // overlaps nothing this program uses.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            pages * PAGE,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(format!("mmap: {}", errno_name(errno())))
    } else {
        Ok(p as usize)
    }
}

/// Changes the protection of `pages` pages at `addr`, one of [`map`]'s
/// mappings.
pub fn protect(addr: usize, pages: usize, prot: i32) -> Result<(), String> {
    // SAFETY: `addr .. addr + pages * PAGE` lies in a mapping made by `map`;
    // the caller no longer references pages it makes inaccessible.
    let rc = unsafe { libc::mprotect(addr as *mut libc::c_void, pages * PAGE, prot) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("mprotect: {}", errno_name(errno())))
    }
}

/// A writable mapping of `pages` pages with the ones in `holes` made
/// inaccessible. PROT_NONE keeps a hole's address reserved, where an
/// unmapped page could be reused by the next large allocation.
pub fn mapping(pages: usize, holes: &[usize]) -> Result<usize, String> {
    let base = map(pages, libc::PROT_READ | libc::PROT_WRITE)?;
    for &i in holes {
        protect(base + i * PAGE, 1, libc::PROT_NONE)?;
    }
    Ok(base)
}
