// SPDX-License-Identifier: GPL-2.0
//! The store's counters and parameters as sysfs files of the device, one
//! value per file: `/sys/class/misc/kvstore/{curr_items,bytes_used,hits,
//! misses,evictions,expired,puts,deletes,buckets,max_items,use_lru,memory}`, each
//! a decimal number and a newline, readable by everyone (as the counters of
//! any device are). Every read takes the snapshot the stat ioctl answers
//! with ([`loaded_store::usage`]), so the two never disagree on what they
//! count.
//!
//! The files are the misc device's attribute group ([`GROUPS`], set in
//! `owned_misc.rs` before `misc_register`): the driver core creates them
//! with the device and removes them in `misc_deregister`.
//!
//! # Lifetime
//!
//! A read of a file runs [`show`], module code reading the store, and an
//! open sysfs file does not pin the module. It is still safe across `rmmod`:
//! `misc_deregister` runs at the start of module exit, before the store is
//! freed, and removing the device removes its attribute files through
//! kernfs, which deactivates each file and waits until no `show` is running
//! on it (`kernfs_drain`); a read after that answers ENODEV without calling
//! into this module. So every `show` runs between `misc_register` (after the
//! store is installed) and `misc_deregister` (before it is freed).

use core::ptr;

use kernel::{bindings, ffi::c_char, prelude::*, types::Opaque};

use crate::abi::KvUsageStat;
use crate::loaded_store;

/// One file: the attribute the driver core sees, first, so that a pointer
/// to the attribute is a pointer to this; then the value it shows.
#[repr(C)]
struct Attr {
    dev: bindings::device_attribute,
    value: fn(&KvUsageStat) -> u64,
}

/// A read-only (0444) file `name` showing `value`.
const fn attr(name: &'static CStr, value: fn(&KvUsageStat) -> u64) -> Opaque<Attr> {
    Opaque::new(Attr {
        dev: bindings::device_attribute {
            attr: bindings::attribute {
                name: kernel::str::as_char_ptr_in_const_context(name),
                mode: 0o444,
                // SAFETY: The rest of `struct attribute` (the lockdep key
                // when lockdep is on, flags) is plain data for which zero is
                // what a static C initializer leaves.
                ..unsafe { core::mem::zeroed() }
            },
            __bindgen_anon_1: bindings::device_attribute__bindgen_ty_1 { show: Some(show) },
            __bindgen_anon_2: bindings::device_attribute__bindgen_ty_2 { store: None },
        },
        value,
    })
}

/// The C structures the driver core reads, in writable static storage as C
/// keeps its own (`Opaque`: the kernel may use the lockdep key in place).
#[repr(transparent)]
struct Static<T>(T);

// SAFETY: The kernel only reads these structures (and lockdep may register
// an attribute's static key); Rust code never touches them after
// registration, so sharing them between threads is sound.
unsafe impl<T> Sync for Static<T> {}

const FILES: usize = 12;

static ATTRS: Static<[Opaque<Attr>; FILES]> = Static([
    attr(c"curr_items", |u| u64::from(u.curr_items)),
    attr(c"bytes_used", |u| u.bytes_used),
    attr(c"hits", |u| u.hits),
    attr(c"misses", |u| u.misses),
    attr(c"evictions", |u| u.evictions),
    attr(c"expired", |u| u.expired),
    attr(c"puts", |u| u.puts),
    attr(c"deletes", |u| u.deletes),
    attr(c"buckets", |u| u64::from(u.bucket_count)),
    attr(c"max_items", |u| u64::from(u.max_items)),
    attr(c"use_lru", |u| u64::from(u.use_lru)),
    attr(c"memory", |u| u.memory),
]);

/// `ATTRS[i]` as the `struct attribute *` it starts with: `Static`,
/// `Opaque` and the array add no offset, and `Attr` and `device_attribute`
/// begin with it.
const fn attribute(i: usize) -> *mut bindings::attribute {
    // `i` is a constant below `FILES` at every use (a const evaluation
    // error otherwise).
    (&raw const ATTRS.0[i]).cast::<bindings::attribute>().cast_mut()
}

/// The group's attribute list, NULL-terminated.
static LIST: Static<Opaque<[*mut bindings::attribute; FILES + 1]>> = Static(Opaque::new([
    attribute(0),
    attribute(1),
    attribute(2),
    attribute(3),
    attribute(4),
    attribute(5),
    attribute(6),
    attribute(7),
    attribute(8),
    attribute(9),
    attribute(10),
    attribute(11),
    ptr::null_mut(),
]));

/// One unnamed group: its files sit in the device's own directory.
static GROUP: Static<Opaque<bindings::attribute_group>> =
    Static(Opaque::new(bindings::attribute_group {
        __bindgen_anon_2: bindings::attribute_group__bindgen_ty_2 {
            attrs: (&raw const LIST).cast::<*mut bindings::attribute>().cast_mut(),
        },
        // SAFETY: The other fields (no name, no visibility callbacks, no
        // binary attributes) are pointers for which NULL means none.
        ..unsafe { core::mem::zeroed() }
    }));

/// The value of `miscdevice.groups`: [`GROUP`], NULL-terminated.
static GROUPS: Static<Opaque<[*const bindings::attribute_group; 2]>> =
    Static(Opaque::new([
        (&raw const GROUP).cast::<bindings::attribute_group>(),
        ptr::null(),
    ]));

/// The attribute groups of the device, for `miscdevice.groups`.
pub(crate) fn groups() -> *mut *const bindings::attribute_group {
    GROUPS.0.get().cast()
}

/// A read of one file: its value, in decimal, and a newline.
///
/// # Safety
///
/// Called by the driver core only, for an attribute of [`ATTRS`], with
/// `buf` a page to write to.
unsafe extern "C" fn show(
    _dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: The attribute is one of `ATTRS` (only they name this
    // function), which starts with it, and statics live as long as the
    // module, whose code this is; nothing writes to it.
    let attr = unsafe { &*attr.cast::<Attr>() };
    // The store exists while the file does (module doc, "Lifetime").
    let usage = match loaded_store::usage() {
        Ok(usage) => usage,
        Err(e) => return e.to_errno() as isize,
    };
    let value: u64 = (attr.value)(&usage);
    // SAFETY: `buf` is the page sysfs hands to `show`; `%llu` takes one
    // `unsigned long long`, which `u64` is.
    let written = unsafe { bindings::sysfs_emit(buf, c"%llu\n".as_char_ptr(), value) };
    written as isize
}
