// SPDX-License-Identifier: GPL-2.0
//! The kernel-independent heart of kv.ko, built for the host: the ABI shared
//! with userspace, the hash table, the eviction policies and the store that
//! composes them. `kv_main.rs` compiles the same files into the module,
//! all but `mapped.rs`: the reader of a mapping of the store, which runs in
//! userspace (`kvlib`) and in the host tests only.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod abi;
pub mod expiry;
pub mod mapped;
pub mod pages;
pub mod policy;
pub mod store;
pub mod table;

#[cfg(test)]
mod tests;
