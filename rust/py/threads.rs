//! The thread pool the bindings run the core on, rebuilt in a child process made by `fork`.
//!
//! `fork` copies only the calling thread: in a child of a process that has used rayon's global pool, the pool's
//! state says its workers exist, but none does, so the first parallel call waits for ever. `multiprocessing` (the
//! default start method on Linux before Python 3.14) and PyTorch's `DataLoader` workers fork. So every call from
//! Python runs on a pool that belongs to the current process: the pool remembers the process id it was built in,
//! and a call from another process (a forked child) builds a fresh one. The parent's pool is leaked in the child,
//! never dropped: dropping it would wake threads that do not exist, through locks that may have been held at fork.
//!
//! `set_thread_count` replaces the current process's pool by one of a given size, for a process that has already
//! used qfast (a Dask worker joining a batch, which runs one task a thread and wants one compute thread a task).

use pyo3::prelude::*;
use rayon::ThreadPool;
use std::sync::atomic::{AtomicPtr, Ordering};

struct Pool {
    pid: u32,
    pool: ThreadPool,
}

static POOL: AtomicPtr<Pool> = AtomicPtr::new(std::ptr::null_mut());

/// This process's pool, built on first use (its size is rayon's default: `RAYON_NUM_THREADS`, else the cores).
/// `None` only if no pool can be built (threads cannot be started), in which case callers run on the caller's thread.
fn pool() -> Option<&'static ThreadPool> {
    let pid = std::process::id();
    let current = POOL.load(Ordering::Acquire);
    // SAFETY: a non-null POOL points to a leaked `Pool` that is never freed.
    if let Some(p) = unsafe { current.as_ref() } {
        if p.pid == pid {
            return Some(&p.pool);
        }
    }
    let pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("qfast-{i}")).build().ok()?;
    let fresh = Box::into_raw(Box::new(Pool { pid, pool }));
    match POOL.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` came from `Box::into_raw` and is now owned by POOL for the rest of the process.
        Ok(_) => Some(unsafe { &(*fresh).pool }),
        Err(winner) => {
            // Another thread of this process installed its pool first: use that one and drop ours (its threads
            // exist, so dropping it is an ordinary shutdown).
            // SAFETY: `fresh` was never shared; `winner` is a leaked `Pool` as above.
            drop(unsafe { Box::from_raw(fresh) });
            unsafe { winner.as_ref() }.filter(|p| p.pid == pid).map(|p| &p.pool)
        }
    }
}

/// Runs `f` without the GIL on this process's pool: every parallel loop inside `f` uses it.
pub(crate) fn detach<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> T {
    py.detach(|| match pool() {
        Some(p) => p.install(f),
        None => f(),
    })
}

/// Makes every later call of this process run on a pool of `n` threads (`n >= 1`; unchanged if the current pool
/// already has `n`). The pool it replaces is leaked, not dropped: calls still running on it hold references to it,
/// and finish there; its threads then sleep. Err (rayon's message) where the threads cannot be started.
pub(crate) fn set_thread_count(n: usize) -> Result<(), String> {
    let pid = std::process::id();
    let current = POOL.load(Ordering::Acquire);
    // SAFETY: a non-null POOL points to a leaked `Pool` that is never freed.
    if let Some(p) = unsafe { current.as_ref() } {
        if p.pid == pid && p.pool.current_num_threads() == n {
            return Ok(());
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("qfast-{i}"))
        .build()
        .map_err(|e| e.to_string())?;
    POOL.store(Box::into_raw(Box::new(Pool { pid, pool })), Ordering::Release);
    Ok(())
}

/// The number of threads the core's pool uses.
pub(crate) fn thread_count() -> usize {
    pool().map_or(1, ThreadPool::current_num_threads)
}
