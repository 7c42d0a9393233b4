// SPDX-License-Identifier: GPL-2.0
//! The kernel-independent heart of kv.ko, built for the host: the ABI shared
//! with userspace and the hash table with its LRU list. `kv_main.rs` compiles
//! the same files into the module.
#![no_std]

pub mod abi;
pub mod store;
