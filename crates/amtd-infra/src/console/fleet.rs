//! The fleet executor (M12): one operation over many devices, with bounded concurrency, at most
//! one operation — and so at most one request — in flight per device, a per-device timeout, a
//! result per device in words and a progress callback.
//!
//! AMT firmware handles few sessions and locks up under parallel requests, so every device is
//! guarded twice: the executor runs each device once (duplicates are dropped), and a
//! [`DeviceGate`] shared by every fleet run of the process lets only one operation at a time
//! touch a device, whichever run it belongs to. An operation uses one [`WsmanClient`]
//! (`DeviceSession::connect`), whose connection carries one request at a time.
//!
//! The executor is a fixed pool of `concurrency` workers pulling devices from a queue: memory
//! stays bounded by the pool, not by the fleet, whatever its size. Results come back in the
//! order the devices were given; the progress callback runs on the caller's task as each device
//! finishes. Dropping the returned future stops the workers.
//!
//! [`WsmanClient`]: crate::client::WsmanClient

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::OwnedMutexGuard;

use super::{ConsoleError, DeviceSession};

/// How a fleet run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetOptions {
    /// Devices worked on at the same time (at least 1).
    pub concurrency: usize,
    /// Longest time one device's operation may take, connection included.
    pub device_timeout: Duration,
}

impl Default for FleetOptions {
    /// 64 devices at a time, 60 s each.
    fn default() -> Self {
        FleetOptions {
            concurrency: 64,
            device_timeout: Duration::from_secs(60),
        }
    }
}

/// One device's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOutcome<T> {
    /// The device.
    pub uuid: String,
    /// The operation's value, or why it failed, in words.
    pub result: Result<T, String>,
    /// How long the device took (zero when it never started).
    pub elapsed: Duration,
}

/// Where a fleet run is, given to the progress callback after each device.
#[derive(Debug)]
pub struct FleetProgress<'a, T> {
    /// Devices finished.
    pub done: usize,
    /// Devices in the run.
    pub total: usize,
    /// Devices that failed so far.
    pub failed: usize,
    /// The device that just finished.
    pub last: &'a DeviceOutcome<T>,
}

/// Lets one operation at a time touch a device, across every fleet run that shares the gate.
#[derive(Debug, Default, Clone)]
pub struct DeviceGate {
    locks: Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>,
}

impl DeviceGate {
    /// A new gate (share one per process: clone it).
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until no other holder works on `uuid`, then holds it until the guard is dropped.
    pub async fn enter(&self, uuid: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            let existing = map.get(uuid).and_then(Weak::upgrade);
            match existing {
                Some(l) => l,
                None => {
                    // Forget devices nobody holds, so the map stays as large as the work.
                    if map.len() >= 1024 && map.len().is_power_of_two() {
                        map.retain(|_, w| w.strong_count() > 0);
                    }
                    let l = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(uuid.to_owned(), Arc::downgrade(&l));
                    l
                }
            }
        };
        lock.lock_owned().await
    }

    /// Devices currently tracked (held or recently held).
    pub fn tracked(&self) -> usize {
        self.locks.lock().map(|m| m.len()).unwrap_or_default()
    }
}

/// Runs `op` on every device. `devices` holds, per device, its session or why none could be
/// made (that device then fails with that reason). Each UUID runs once; results come back in
/// the order given (duplicates dropped).
pub async fn run_fleet<T, F, Fut>(
    devices: Vec<(String, Result<DeviceSession, String>)>,
    options: FleetOptions,
    gate: &DeviceGate,
    op: F,
    progress: impl FnMut(&FleetProgress<'_, T>),
) -> Vec<DeviceOutcome<T>>
where
    T: Send + 'static,
    F: Fn(Arc<DeviceSession>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ConsoleError>> + Send + 'static,
{
    let op = Arc::new(op);
    run_fleet_items(
        devices,
        options,
        gate,
        move |session: Result<DeviceSession, String>| {
            let op = op.clone();
            async move {
                match session {
                    Ok(s) => op(Arc::new(s)).await,
                    Err(reason) => Err(ConsoleError::Setup { reason }),
                }
            }
        },
        progress,
    )
    .await
}

/// [`run_fleet`] over any per-device item: `op` receives the item and does everything for that
/// device — building its session too, so that work (store reads, secret decryption) runs in
/// the workers, bounded and in parallel with the devices, instead of before the first device
/// is touched. Items are keyed by device UUID: each UUID runs once, holding the gate.
pub async fn run_fleet_items<I, T, F, Fut>(
    items: Vec<(String, I)>,
    options: FleetOptions,
    gate: &DeviceGate,
    op: F,
    mut progress: impl FnMut(&FleetProgress<'_, T>),
) -> Vec<DeviceOutcome<T>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ConsoleError>> + Send + 'static,
{
    let mut seen = HashSet::new();
    let queue: VecDeque<(usize, String, I)> = items
        .into_iter()
        .filter(|(uuid, _)| seen.insert(uuid.clone()))
        .enumerate()
        .map(|(index, (uuid, item))| (index, uuid, item))
        .collect();
    let total = queue.len();
    let mut results: Vec<Option<DeviceOutcome<T>>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    let mut failed = 0;

    let workers = options.concurrency.max(1).min(total);
    let queue = Arc::new(Mutex::new(queue));
    let op = Arc::new(op);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut pool = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let queue = queue.clone();
        let op = op.clone();
        let tx = tx.clone();
        let gate = gate.clone();
        let limit = options.device_timeout;
        pool.spawn(async move {
            loop {
                let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                let Some((index, uuid, item)) = next else {
                    return;
                };
                let _held = gate.enter(&uuid).await;
                let started = Instant::now();
                let result = match tokio::time::timeout(limit, op(item)).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(e.in_words()),
                    Err(_) => Err(ConsoleError::Timeout { after: limit }.in_words()),
                };
                let outcome = DeviceOutcome {
                    uuid,
                    result,
                    elapsed: started.elapsed(),
                };
                if tx.send((index, outcome)).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    while let Some((index, outcome)) = rx.recv().await {
        done += 1;
        if outcome.result.is_err() {
            failed += 1;
        }
        progress(&FleetProgress {
            done,
            total,
            failed,
            last: &outcome,
        });
        results[index] = Some(outcome);
    }
    while pool.join_next().await.is_some() {}
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use amt_wsman::secret::SecretString;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn session(uuid: &str) -> DeviceSession {
        DeviceSession::plain(uuid, "127.0.0.1", SecretString::new(String::new()))
    }

    #[tokio::test]
    async fn every_device_runs_once_in_order_with_progress() {
        let devices: Vec<_> = ["a", "b", "a", "c"]
            .iter()
            .map(|u| (u.to_string(), Ok(session(u))))
            .chain([("d".to_string(), Err("no password stored".to_string()))])
            .collect();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        let mut seen = Vec::new();
        let out = run_fleet(
            devices,
            FleetOptions {
                concurrency: 2,
                device_timeout: Duration::from_secs(5),
            },
            &DeviceGate::new(),
            move |s| {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if s.uuid == "b" {
                        Err(ConsoleError::Timeout {
                            after: Duration::from_secs(1),
                        })
                    } else {
                        Ok(s.uuid.to_uppercase())
                    }
                }
            },
            |p| seen.push((p.done, p.total, p.failed)),
        )
        .await;
        assert_eq!(runs.load(Ordering::SeqCst), 3, "duplicates run once");
        let uuids: Vec<&str> = out.iter().map(|o| o.uuid.as_str()).collect();
        assert_eq!(uuids, ["a", "b", "c", "d"]);
        assert_eq!(out[0].result, Ok("A".to_string()));
        assert_eq!(out[1].result, Err("no answer within 1 s".to_string()));
        assert_eq!(out[3].result, Err("no password stored".to_string()));
        assert_eq!(seen.len(), 4);
        assert_eq!(seen.last().map(|s| (s.0, s.1, s.2)), Some((4, 4, 2)));
    }

    #[tokio::test]
    async fn slow_devices_time_out_and_concurrency_is_bounded() {
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (l, p) = (live.clone(), peak.clone());
        let devices: Vec<_> = (0..20)
            .map(|i| (format!("d{i}"), Ok(session(&format!("d{i}")))))
            .collect();
        let out = run_fleet(
            devices,
            FleetOptions {
                concurrency: 3,
                device_timeout: Duration::from_millis(200),
            },
            &DeviceGate::new(),
            move |s| {
                let (l, p) = (l.clone(), p.clone());
                async move {
                    let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    let wait = if s.uuid == "d7" { 2_000 } else { 10 };
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    l.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            |_| {},
        )
        .await;
        assert_eq!(out.len(), 20);
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert_eq!(out[7].result, Err("no answer within 0.2 s".to_string()));
        assert_eq!(out.iter().filter(|o| o.result.is_ok()).count(), 19);
    }

    #[tokio::test]
    async fn the_gate_serialises_two_runs_on_one_device() {
        let gate = DeviceGate::new();
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let run = |gate: DeviceGate| {
            let (l, p) = (live.clone(), peak.clone());
            async move {
                run_fleet(
                    vec![("same".to_string(), Ok(session("same")))],
                    FleetOptions::default(),
                    &gate,
                    move |_| {
                        let (l, p) = (l.clone(), p.clone());
                        async move {
                            let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                            p.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            l.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        }
                    },
                    |_| {},
                )
                .await
            }
        };
        let (a, b) = tokio::join!(run(gate.clone()), run(gate.clone()));
        assert!(a[0].result.is_ok() && b[0].result.is_ok());
        assert_eq!(
            peak.load(Ordering::SeqCst),
            1,
            "never two at once on one device"
        );
        assert_eq!(gate.tracked(), 1);
    }
}
