// SPDX-License-Identifier: GPL-2.0
//! A misc device whose `file_operations` name this module as their owner.
//!
//! Why: the VFS pins a file's module through `fops->owner`. It takes the
//! reference when the file is opened (`fops_get` in `misc_open`) and drops it
//! in `__fput` only after `release` has returned. The 7.2 kernel crate's
//! `MiscDeviceRegistration` registers a `static` vtable whose `owner` is NULL,
//! so nothing pins the module for an open file. A driver that takes its own
//! reference in `open` and drops it in `release` is not safe either: it still
//! has code of its own to run after `module_put`, and `__fput` reads
//! `fops->owner` from the module's memory afterwards, so an `rmmod` that
//! lands in that window frees code and data still in use. C's CUSE and MUSE
//! copy a template `file_operations` and set the owner the same way as here.
//!
//! How: [`MiscDeviceOptions::into_raw`] still builds the `struct miscdevice`
//! and its vtable (so every callback is the kernel crate's own, calling our
//! [`MiscDevice`] methods); we copy that vtable into memory owned by the
//! registration, set `owner = THIS_MODULE`, point the `miscdevice` at the copy
//! and call `misc_register` ourselves. `open` and `release` then take and drop
//! nothing: the VFS holds the module for as long as any file is open, and
//! `rmmod` refuses (EAGAIN) until the last `__fput` is done with our code.

use core::marker::PhantomData;

use kernel::{
    bindings,
    error::to_result,
    miscdevice::{MiscDevice, MiscDeviceOptions},
    prelude::*,
    types::Opaque,
    ThisModule,
};

/// The C structs `misc_register` keeps pointers to; boxed, so their addresses
/// stay fixed from registration to deregistration.
struct Raw {
    misc: Opaque<bindings::miscdevice>,
    fops: Opaque<bindings::file_operations>,
}

/// A registered misc device for `T`, like `MiscDeviceRegistration<T>` but
/// with `fops->owner` set. Deregistered on drop.
///
/// # Invariants
///
/// `raw.misc` is registered with `misc_register` and its `fops` points to
/// `raw.fops`, a copy of the kernel crate's vtable for `T` with `owner` set to
/// the module given to [`OwnedMiscDevice::register`].
pub(crate) struct OwnedMiscDevice<T: MiscDevice> {
    raw: KBox<Raw>,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may be called from any thread, and `&self` offers
// no access to the C structs: the type only owns them until it is dropped.
unsafe impl<T: MiscDevice> Send for OwnedMiscDevice<T> {}
// SAFETY: As above: no method takes `&self`.
unsafe impl<T: MiscDevice> Sync for OwnedMiscDevice<T> {}

impl<T: MiscDevice> OwnedMiscDevice<T> {
    /// Registers `/dev/<name>` with `T`'s callbacks, owned by `module`, and
    /// with the attribute groups `groups` (a NULL-terminated array that
    /// outlives the registration, as `sysfs.rs`'s static one does).
    pub(crate) fn register(
        name: &'static CStr,
        module: &'static ThisModule,
        groups: *mut *const bindings::attribute_group,
    ) -> Result<Self> {
        let mut misc = MiscDeviceOptions { name }.into_raw::<T>();
        // The store's sysfs files, created and removed with the device.
        misc.groups = groups;
        // SAFETY: `into_raw` sets `fops` to `&MiscdeviceVTable::<T>::VTABLE`,
        // a `'static` constant, so it is valid to read. `file_operations` is
        // plain data (function and module pointers), so a bitwise copy is a
        // valid value with the same callbacks.
        let mut fops = unsafe { core::ptr::read(misc.fops) };
        fops.owner = module.as_ptr();
        // The copy takes the vtable's place once `raw` is at its final address.
        misc.fops = core::ptr::null();
        let raw = KBox::new(
            Raw {
                misc: Opaque::new(misc),
                fops: Opaque::new(fops),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `raw` is ours alone until `misc_register`; both fields are
        // initialised.
        unsafe { (*raw.misc.get()).fops = raw.fops.get() };
        // SAFETY: `raw.misc` is an initialised `struct miscdevice` (name,
        // dynamic minor, fops, groups), boxed so it stays at this address
        // until `drop` deregisters it; `raw.fops` lives in the same box, and
        // `groups` outlives the registration (the caller's promise).
        //
        // Layout facts of the 7.2 kernel crate this relies on, checked against
        // rust/kernel/miscdevice.rs of the pinned source:
        // - `misc_open` stores the `struct miscdevice *` in `private_data`,
        //   and the vtable's `open` reads it as `&MiscDeviceRegistration<T>`.
        //   That type is `#[repr(transparent)]` over
        //   `Opaque<bindings::miscdevice>` (itself `repr(transparent)`), so a
        //   pointer to our registered `miscdevice` is a valid pointer to one;
        //   `KvDevice::open` does not even look at it.
        // - The other callbacks only use `private_data` as their own `open`
        //   set it (`T::Ptr::into_foreign`), never the registration.
        // - Nothing in the vtable reads `owner` or the vtable's address, so
        //   the copy behaves exactly like the original.
        // INVARIANT: on success `raw.misc` is registered and points to
        // `raw.fops`, whose owner is `module`.
        to_result(unsafe { bindings::misc_register(raw.misc.get()) })?;
        Ok(Self {
            raw,
            _t: PhantomData,
        })
    }
}

impl<T: MiscDevice> Drop for OwnedMiscDevice<T> {
    fn drop(&mut self) {
        // SAFETY: Registered by the type invariant, deregistered only here.
        // After `misc_deregister` returns no `open` can find the device (it
        // serialises with `misc_open` on `misc_mtx`), and no file is open: each
        // one pins the module through `fops.owner` until `__fput` has finished
        // with it, and this runs at module exit. So the box may be freed.
        unsafe { bindings::misc_deregister(self.raw.misc.get()) };
    }
}
