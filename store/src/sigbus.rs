//! A clear message instead of a silent death when a mapped file shrinks under swan.
//!
//! Reading a page of a memory map past the end of a file that was truncated after it was
//! mapped raises `SIGBUS`, which by default kills the process with no message. Every map
//! swan reads registers its address range and path here ([`Watch`]); a `SIGBUS` handler
//! (installed once, with `sigaction`) looks the faulting address up, writes
//! `swan: error: PATH changed under swan while it was being read (truncated?)` to stderr
//! and exits with status 2. A fault outside the registered maps is not ours: the handler
//! restores the default action and returns, so the fault recurs and kills as before.
//!
//! `libc` and not `signal-hook`: signal-hook refuses `SIGBUS` (a synchronous fault cannot
//! be turned into a flag checked later); this needs a handler that never returns.
//! The handler only reads atomics and calls `write` and `_exit`, which are async-signal-safe.

use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Maps watched at once; more are still read, just without a message on a fault.
const SLOTS: usize = 256;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    /// A leaked `Box<[u8]>` of the path (its length in `path_len`), or null.
    path: AtomicPtr<u8>,
    path_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // the array initialiser needs a const
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    path: AtomicPtr::new(std::ptr::null_mut()),
    path_len: AtomicUsize::new(0),
};
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
static INSTALL: std::sync::Once = std::sync::Once::new();

/// A registered map; unregisters on drop. Keep it alive as long as the map.
#[derive(Debug)]
pub struct Watch {
    slot: Option<usize>,
}

/// Register the mapped bytes `map` of `path`, so a fault in them is reported by name.
pub fn watch(map: &[u8], path: &Path) -> Watch {
    INSTALL.call_once(install);
    if map.is_empty() {
        return Watch { slot: None };
    }
    let name: Box<[u8]> = path.as_os_str().as_encoded_bytes().into();
    let name_len = name.len();
    for (i, slot) in TABLE.iter().enumerate() {
        // Claim a free slot by its start address (0 = free).
        if slot.start.compare_exchange(0, map.as_ptr() as usize, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            slot.path_len.store(name_len, Ordering::Release);
            slot.path.store(Box::into_raw(name) as *mut u8, Ordering::Release);
            slot.len.store(map.len(), Ordering::Release);
            return Watch { slot: Some(i) };
        }
    }
    Watch { slot: None }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(i) = self.slot else { return };
        let slot = &TABLE[i];
        slot.len.store(0, Ordering::Release);
        let p = slot.path.swap(std::ptr::null_mut(), Ordering::AcqRel);
        let n = slot.path_len.load(Ordering::Acquire);
        slot.start.store(0, Ordering::Release);
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw` of a boxed slice of `n` bytes in `watch`
            // and was swapped out of the table, so nothing else frees it.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, n)) });
        }
    }
}

/// The action that was installed before ours (Rust's runtime has one for stack
/// overflows), restored for faults that are not in a watched map.
static PREVIOUS: std::sync::OnceLock<libc::sigaction> = std::sync::OnceLock::new();

fn install() {
    // SAFETY: a zeroed sigaction is a valid starting value; the handler has the
    // SA_SIGINFO signature and only does async-signal-safe work.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, &action, &mut previous) == 0 {
            let _ = PREVIOUS.set(previous);
        }
    }
}

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    for slot in &TABLE {
        let (start, len) = (slot.start.load(Ordering::Acquire), slot.len.load(Ordering::Acquire));
        if start != 0 && addr >= start && addr - start < len {
            let p = slot.path.load(Ordering::Acquire);
            let n = slot.path_len.load(Ordering::Acquire);
            write_stderr(b"swan: error: ");
            if !p.is_null() {
                // SAFETY: `p` points to `n` bytes owned by the table while the slot is claimed.
                write_stderr(unsafe { std::slice::from_raw_parts(p, n) });
            }
            write_stderr(b": the file changed under swan while it was being read (truncated?); rerun once it is complete\n");
            // SAFETY: _exit is async-signal-safe and does not return.
            unsafe { libc::_exit(2) };
        }
    }
    // Not one of ours: put back the previous action (or the default); returning re-runs the
    // faulting access, which that action then handles.
    // SAFETY: sigaction and signal are async-signal-safe; PREVIOUS was set before this
    // handler was installed and is only read here.
    unsafe {
        match PREVIOUS.get() {
            Some(previous) => libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut()),
            None => {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
                0
            }
        }
    };
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: write(2) on fd 2 with a valid buffer; a short or failed write is ignored.
    unsafe { libc::write(2, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
}
