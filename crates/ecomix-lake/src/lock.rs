//! One writer at a time per lake. Delta commits are atomic, but two runs landing the same new
//! file would both append it to bronze (appends never conflict); and a cron job that overlaps
//! its predecessor should say so instead of racing it.
//!
//! On a local disk the lock is an OS file lock on `<lake>/system/writer.lock`, released by the
//! kernel even when the process is killed. On an object store it is a lease: the same path
//! holds the holder and an expiry, created only if absent, renewed by a heartbeat with
//! conditional writes, and taken over once expired (a killed run blocks others for at most
//! the lease's length).

use std::fs::File;
use std::io::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::logstore::object_store::{
    self, ObjectStore as _, ObjectStoreExt as _, PutMode, PutOptions, PutPayload, UpdateVersion,
};
use serde::{Deserialize, Serialize};

use crate::{Lake, LakeError};

/// Where the lock lives, relative to the lake root.
const LOCK_PATH: &str = "system/writer.lock";

/// How long an object-store lease lasts without renewal; `ECOMIX_LOCK_TTL_SECONDS` overrides.
const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Who holds the lock, as written in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub command: String,
    pub pid: u32,
    pub host: String,
    pub since: DateTime<Utc>,
    /// For leases: when the lock is free if not renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    /// For leases: which acquisition this is, so a holder recognises its own lease.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
}

/// Set when this process finds its lease taken by another run: commits then refuse to go on
/// (see `Appender::commit`), as another writer may be in the lake.
static LEASE_LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Fails when this process's write lease was taken by another run.
pub(crate) fn ensure_lease_held(lake: &str) -> Result<(), LakeError> {
    if LEASE_LOST.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(LakeError::Busy {
            lake: lake.to_string(),
            holder: "another run took this run's write lease (it could not be renewed in time); \
                     this run stops before committing more"
                .into(),
        });
    }
    Ok(())
}

/// Reads the lease back: whether it is still this acquisition's, and its current version.
async fn still_ours(
    store: &deltalake::logstore::ObjectStoreRef,
    path: &object_store::path::Path,
    token: &str,
) -> Result<Option<UpdateVersion>, object_store::Error> {
    let current = match store.get(path).await {
        Ok(c) => c,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let version = UpdateVersion {
        e_tag: current.meta.e_tag.clone(),
        version: current.meta.version.clone(),
    };
    let holder: Option<Holder> = serde_json::from_slice(&current.bytes().await?).ok();
    Ok(holder.filter(|h| h.token == token).map(|_| version))
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`ecomix {}` (pid {} on {}) since {}",
            self.command,
            self.pid,
            self.host,
            self.since.format("%Y-%m-%d %H:%M:%SZ")
        )
    }
}

/// The lake's write lock, held until dropped.
pub struct WriteLock {
    kind: LockKind,
}

enum LockKind {
    /// The kernel releases the lock with the file.
    File(#[allow(dead_code)] File),
    Lease(Lease),
}

struct Lease {
    heartbeat: tokio::task::JoinHandle<()>,
    store: deltalake::logstore::ObjectStoreRef,
    path: object_store::path::Path,
    token: String,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Without `release` (a panic, an early return) the lease is left to expire.
        self.heartbeat.abort();
    }
}

impl WriteLock {
    /// Frees the lock at once: for a lease, deletes it, sparing the next run its expiry.
    pub async fn release(self) {
        if let LockKind::Lease(lease) = &self.kind {
            lease.heartbeat.abort();
            // Only our own lease: another run may have taken it over.
            let freed = match still_ours(&lease.store, &lease.path, &lease.token).await {
                Ok(Some(_)) => lease.store.delete(&lease.path).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = freed {
                tracing::warn!(
                    "could not free the lake's write lease (it will expire): {}",
                    plain(&e)
                );
            }
        }
    }
}

/// A storage error in one sentence when it is a known problem.
fn plain(error: &object_store::Error) -> String {
    let text = crate::storage::error_chain_text(error);
    match crate::StorageProblem::find(&text) {
        Some(problem) => problem.to_string(),
        None => text,
    }
}

fn holder(command: &str, lease: Option<Duration>) -> Holder {
    let now = Utc::now();
    Holder {
        command: command.to_string(),
        pid: std::process::id(),
        host: hostname(),
        since: now,
        expires: lease.map(|d| now + chrono::Duration::from_std(d).unwrap_or_default()),
        token: lease
            .map(|_| uuid::Uuid::new_v4().to_string())
            .unwrap_or_default(),
    }
}

/// Who holds a local lock, as the holder wrote it in the lock file. The holder writes it just
/// after taking the lock: a process that finds the lock taken in between reads an empty file,
/// so it reads again for a moment before giving up on the name.
fn read_holder(path: &std::path::Path) -> Option<Holder> {
    for _ in 0..50 {
        let written = std::fs::read_to_string(path).unwrap_or_default();
        if let Ok(holder) = serde_json::from_str::<Holder>(&written) {
            return Some(holder);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown host".into())
}

/// Shorter leases would be renewed in a tight loop (the tests use 3 s).
const MIN_LEASE: Duration = Duration::from_secs(2);

fn lease_length() -> Duration {
    std::env::var("ECOMIX_LOCK_TTL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LEASE)
        .max(MIN_LEASE)
}

impl Lake {
    /// Takes the lake's write lock for `command`, or fails at once with [`LakeError::Busy`]
    /// naming the run that holds it.
    pub async fn lock_for_writing(&self, command: &str) -> Result<WriteLock, LakeError> {
        let kind = if self.is_remote() {
            LockKind::Lease(self.lease(command).await?)
        } else {
            LockKind::File(self.file_lock(command)?)
        };
        Ok(WriteLock { kind })
    }

    fn file_lock(&self, command: &str) -> Result<File, LakeError> {
        let root = self.root.to_file_path().map_err(|_| LakeError::Location {
            location: self.root.to_string(),
            reason: "not a local path".into(),
        })?;
        let path = root.join(LOCK_PATH);
        let io = |e: std::io::Error| LakeError::Location {
            location: path.display().to_string(),
            reason: format!("cannot lock the lake for writing: {e}"),
        };
        std::fs::create_dir_all(path.parent().expect("the lock is in a folder")).map_err(io)?;
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LakeError::Busy {
                    lake: self.root.to_string(),
                    holder: read_holder(&path)
                        .map_or_else(|| "another process".into(), |h| h.to_string()),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let text = serde_json::to_string(&holder(command, None)).expect("a holder serializes");
        file.set_len(0).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        Ok(file)
    }

    async fn lease(&self, command: &str) -> Result<Lease, LakeError> {
        let (store, root) = self.store_for(&self.root)?;
        let path = object_store::path::Path::from(format!("{root}/{LOCK_PATH}"));
        let length = lease_length();
        let fail = |e: object_store::Error| self.storage_error(self.root.as_str(), &e);
        let body = |h: &Holder| PutPayload::from(serde_json::to_vec(h).expect("serializes"));
        let mut me = holder(command, Some(length));
        let token = me.token.clone();
        let created = store
            .put_opts(&path, body(&me), PutOptions::from(PutMode::Create))
            .await;
        let mut version = match created {
            Ok(put) => UpdateVersion {
                e_tag: put.e_tag,
                version: put.version,
            },
            Err(object_store::Error::AlreadyExists { .. }) => {
                let current = store.get(&path).await.map_err(fail)?;
                let seen = UpdateVersion {
                    e_tag: current.meta.e_tag.clone(),
                    version: current.meta.version.clone(),
                };
                let bytes = current.bytes().await.map_err(fail)?;
                let other: Option<Holder> = serde_json::from_slice(&bytes).ok();
                let expired = other
                    .as_ref()
                    .and_then(|h| h.expires)
                    .is_none_or(|at| at < Utc::now());
                if !expired {
                    return Err(LakeError::Busy {
                        lake: self.root.to_string(),
                        holder: other.map_or("another process".into(), |h| h.to_string()),
                    });
                }
                tracing::warn!(
                    "taking over the expired write lease of {}",
                    other.map_or("an unknown run".into(), |h| h.to_string())
                );
                match store
                    .put_opts(&path, body(&me), PutOptions::from(PutMode::Update(seen)))
                    .await
                {
                    Ok(put) => UpdateVersion {
                        e_tag: put.e_tag,
                        version: put.version,
                    },
                    Err(object_store::Error::Precondition { .. }) => {
                        return Err(LakeError::Busy {
                            lake: self.root.to_string(),
                            holder: "another run, which took the expired lease first".into(),
                        });
                    }
                    Err(e) => return Err(fail(e)),
                }
            }
            Err(e) => return Err(fail(e)),
        };
        let (beat_store, beat_path) = (store.clone(), path.clone());
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(length / 3).await;
                me.expires =
                    Some(Utc::now() + chrono::Duration::from_std(length).unwrap_or_default());
                let payload = PutPayload::from(serde_json::to_vec(&me).expect("serializes"));
                let renewed = beat_store
                    .put_opts(
                        &beat_path,
                        payload,
                        PutOptions::from(PutMode::Update(version.clone())),
                    )
                    .await;
                match renewed {
                    Ok(put) => {
                        version = UpdateVersion {
                            e_tag: put.e_tag,
                            version: put.version,
                        }
                    }
                    // The renewal may have landed with its answer lost (the version we hold
                    // is then stale), or another run took the lease after it expired.
                    Err(
                        object_store::Error::Precondition { .. }
                        | object_store::Error::NotFound { .. },
                    ) => match still_ours(&beat_store, &beat_path, &me.token).await {
                        Ok(Some(current)) => version = current,
                        Ok(None) => {
                            LEASE_LOST.store(true, std::sync::atomic::Ordering::SeqCst);
                            tracing::error!(
                                "this run's write lease was taken by another run: it stops \
                                     before its next commit"
                            );
                            return;
                        }
                        Err(e) => {
                            tracing::warn!("could not renew the lake's write lease: {}", plain(&e))
                        }
                    },
                    // A transient failure: the next beat tries again within the lease.
                    Err(e) => {
                        tracing::warn!("could not renew the lake's write lease: {}", plain(&e))
                    }
                }
            }
        });
        Ok(Lease {
            heartbeat,
            store,
            path,
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_read_once_written_and_not_invented() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        // Taken but not yet written: the holder's name arrives a few milliseconds later.
        std::fs::write(&path, "").unwrap();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(15));
                let text = serde_json::to_string(&holder("run", None)).unwrap();
                std::fs::write(path, text).unwrap();
            })
        };
        let read = read_holder(&path).expect("the holder wrote its name");
        writer.join().unwrap();
        assert_eq!(read.pid, std::process::id());
        assert_eq!(read.command, "run");

        std::fs::write(&path, "{\"command\": \"ru").unwrap();
        assert!(read_holder(&path).is_none(), "a torn name is not a holder");
    }
}
