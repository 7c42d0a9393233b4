//! Random argument structs for `KV_IOC_BATCH` and `KV_IOC_DUMP`: counts,
//! pointers (NULL, holes, kernel, read-only, the top of the address space)
//! and reserved words. The torture suite's fuzzer (kv-torture) goes further,
//! through every ioctl; this is the quick one every run has.

use std::collections::BTreeMap;

use kv_module::abi::{KvBatchArgs, KvDumpArgs, KV_BATCH_MAX, KV_IOC_BATCH, KV_IOC_DUMP};
use kv_test_support::{ensure, map, mapping, same, Dev, Outcome, Rng};

use crate::store::{contents, empty_store, put_numbered, KERNEL_ADDR};

/// Random counts, pointers and argument words against batch and dump: only
/// EFAULT, EINVAL or ENOSPC, never a kernel report (the rig checks the
/// log), and the store holds exactly what it held.
pub fn counts_and_pointers(dev: &Dev) -> Outcome {
    empty_store(dev)?;
    put_numbered(dev, "f", 50)?;
    let want = contents(dev)?;
    let hole = mapping(1, &[0])?;
    // A zeroed read-only page: ops read from it are op 0 (EINVAL), whose
    // results cannot be written back (EFAULT); dumps cannot write to it.
    let read_only = map(1, libc::PROT_READ)? as u64;
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut next = move || rng.next_u64();
    let mut seen = BTreeMap::new();
    for _ in 0..3000 {
        let r = next();
        let ptr = match r % 7 {
            0 => 0,
            1 => hole as u64,
            2 => KERNEL_ADDR as u64,
            3 => u64::MAX - (r >> 8) % 4096,
            4 => 1 << 47,
            5 => read_only + (r >> 8) % 64,
            _ => r,
        };
        let count = match (r >> 3) % 5 {
            0 => 0,
            1 => 1 + (r >> 16) as u32 % 4,
            2 => KV_BATCH_MAX + (r >> 16) as u32 % 3,
            3 => u32::MAX - (r >> 16) as u32 % 3,
            _ => (r >> 32) as u32,
        };
        let reserved = u32::from(r % 97 == 0);
        let mut batch = KvBatchArgs {
            ops: ptr,
            count,
            reserved,
        };
        let mut dump = KvDumpArgs {
            cursor: if r % 5 == 0 { next() } else { next() % 80 },
            pairs: ptr,
            count,
            reserved,
        };
        let (cmd, arg) = if r & 1 == 0 {
            (KV_IOC_BATCH, &mut batch as *mut KvBatchArgs as usize)
        } else {
            (KV_IOC_DUMP, &mut dump as *mut KvDumpArgs as usize)
        };
        let res = dev.ioctl(cmd, arg);
        match res {
            Ok(_) | Err(libc::EFAULT) | Err(libc::EINVAL) | Err(libc::ENOSPC) => {
                *seen.entry(format!("{res:?}")).or_insert(0) += 1;
            }
            Err(e) => {
                return Err(format!(
                    "cmd {cmd:#x} ptr {ptr:#x} count {count}: errno {e}"
                ))
            }
        }
    }
    ensure!(
        seen.contains_key("Err(14)") && seen.contains_key("Err(22)"),
        "the fuzz never hit EFAULT and EINVAL: {seen:?}"
    );
    same("the store after the fuzz", contents(dev)?, want)?;
    empty_store(dev)
}
