//! A one-node Slurm cluster in a temporary folder: its own MUNGE key and socket, its own
//! ports, state and spool folders, so that it touches nothing of the machine's own Slurm (if
//! any) and a second test run at the same time gets a cluster of its own. Every daemon is a
//! child of the test, run in the foreground, and stopped by its pid when the cluster is
//! dropped (also when the test fails).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The programs the cluster needs (Debian's `slurm-wlm` and `munge` packages).
const PROGRAMS: &[&str] = &["munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel", "scontrol"];

pub struct Cluster {
    /// The cluster's folder (configuration, keys, state, logs); tests may work in it too.
    pub dir: tempfile::TempDir,
    /// The slurm.conf that every client command must be given (`SLURM_CONF`).
    pub conf: PathBuf,
    daemons: Vec<(&'static str, Child)>,
}

/// Where `name` is: PATH, then the sbin folders (a test's PATH may lack them).
fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path.split(':').chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"]).map(|d| Path::new(d).join(name)).find(|p| p.is_file());
    found
}

fn program(name: &str) -> PathBuf {
    find(name).unwrap_or_else(|| panic!("{name} is not installed"))
}

/// Install Slurm and MUNGE from the distribution's packages when they are absent. Err says
/// why they are not there.
fn ensure_installed() -> Result<(), String> {
    if PROGRAMS.iter().all(|p| find(p).is_some()) {
        return Ok(());
    }
    let uid = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref().ok() != Some("0") {
        return Err("Slurm and MUNGE are not installed and this test is not root to install them".into());
    }
    if find("apt-get").is_none() {
        return Err("Slurm and MUNGE are not installed and there is no apt-get to install them".into());
    }
    let install = || {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("apt-get: {e}"))
    };
    eprintln!("slurm test: installing slurm-wlm and munge with apt-get");
    // The packages' scripts would start the machine's own munged, slurmctld and slurmd where no
    // policy forbids it: daemons this test did not start and would leave behind. Forbid it for
    // the install (policy-rc.d exit 101 = "action not allowed"), as container images do.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let own_policy = !policy.exists() && fs::write(policy, "#!/bin/sh\nexit 101\n").is_ok();
    if own_policy {
        let _ = fs::set_permissions(policy, fs::Permissions::from_mode(0o755));
    }
    let mut out = install();
    if out.as_ref().is_ok_and(|o| !o.status.success()) {
        // A fresh machine may have no package lists yet.
        let _ = Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=600", "update"]).output();
        out = install();
    }
    if own_policy {
        let _ = fs::remove_file(policy);
    }
    let out = out?;
    if !out.status.success() {
        return Err(format!("apt-get install slurm-wlm munge failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    match PROGRAMS.iter().find(|p| find(p).is_none()) {
        Some(p) => Err(format!("{p} is still missing after installing slurm-wlm and munge")),
        None => Ok(()),
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!("--- {}\n{}", path.display(), lines[lines.len().saturating_sub(20)..].join("\n"))
}

impl Cluster {
    /// A running cluster, or None (after saying why) where Slurm cannot be installed and the
    /// test is not in CI; under CI=true that is a failure.
    pub fn start() -> Option<Cluster> {
        if let Err(why) = ensure_installed() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and no Slurm: {why}");
            }
            eprintln!("slurm test skipped: {why}");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("swan-slurm-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        // The folder layout, MUNGE key and slurm.conf come from the script users run for a
        // local cluster (one configuration for both); this test runs the daemons itself, in
        // the foreground, as its children. Two stand-in GPUs (device files every machine has),
        // so that `--gpus-per-task` requests are scheduled and each task is given one
        // (CUDA_VISIBLE_DEVICES); swan is told to use the CPU.
        let script = super::common::repo().join("scripts/slurm/local-cluster.sh");
        let out = Command::new(&script).arg("conf").arg(&root).args(["--cpus", "2", "--stand-in-gpus", "2"]).output().unwrap();
        assert!(out.status.success(), "{} conf failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
        let (key, socket, conf) = (root.join("munge/munge.key"), root.join("run/munge.sock"), root.join("slurm.conf"));
        let r = root.display();

        let mut cluster = Cluster { dir, conf: conf.clone(), daemons: Vec::new() };
        let log = |name: &str| fs::File::create(root.join("log").join(name)).unwrap();
        let spawn = |cmd: &mut Command, name: &str| -> Child {
            cmd.env("SLURM_CONF", &conf)
                .stdin(Stdio::null())
                .stdout(log(&format!("{name}.out")))
                .stderr(log(&format!("{name}.err")))
                .spawn()
                .unwrap_or_else(|e| panic!("start {name}: {e}"))
        };
        let munged = spawn(
            Command::new(program("munged")).arg("-F").args([
                format!("--key-file={}", key.display()),
                format!("--socket={}", socket.display()),
                format!("--pid-file={r}/run/munged.pid"),
                format!("--seed-file={r}/munge/munged.seed"),
                format!("--log-file={r}/log/munged.log"),
            ]),
            "munged",
        );
        cluster.daemons.push(("munged", munged));
        cluster.wait_for("munged's socket", Duration::from_secs(10), |_| socket.exists());
        let ctld = spawn(Command::new(program("slurmctld")).args(["-D", "-f"]).arg(&conf), "slurmctld");
        cluster.daemons.push(("slurmctld", ctld));
        let slurmd = spawn(Command::new(program("slurmd")).args(["-D", "-N", "local1", "-f"]).arg(&conf), "slurmd");
        cluster.daemons.push(("slurmd", slurmd));
        cluster.wait_for("the node to be idle", Duration::from_secs(30), |c| {
            let out = c.client("sinfo", &["-h", "-N", "-o", "%T"]);
            String::from_utf8_lossy(&out.stdout).trim() == "idle"
        });
        Some(cluster)
    }

    /// Run a Slurm client program against this cluster.
    pub fn client(&self, name: &str, args: &[&str]) -> Output {
        Command::new(program(name)).args(args).env("SLURM_CONF", &self.conf).output().unwrap()
    }

    /// Wait until `ready` holds, or fail with the daemons' logs.
    pub fn wait_for(&mut self, what: &str, budget: Duration, mut ready: impl FnMut(&Cluster) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            let exited = self.daemons.iter_mut().find_map(|(name, child)| Some((*name, child.try_wait().ok()??)));
            if let Some((name, status)) = exited {
                panic!("{name} exited ({status}) while waiting for {what}\n{}", self.logs());
            }
            if start.elapsed() > budget {
                panic!("no {what} after {budget:?}\n{}", self.logs());
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Wait until no job is pending or running.
    pub fn wait_idle(&mut self, budget: Duration) {
        self.wait_for("empty queue", budget, |c| c.client("squeue", &["-h", "-o", "%i"]).stdout.is_empty());
    }

    /// The last lines of every daemon's log.
    pub fn logs(&self) -> String {
        let logs = self.dir.path().join("log");
        let mut names: Vec<PathBuf> = fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        names.iter().map(|p| tail(p)).collect::<Vec<_>>().join("\n")
    }
}

/// Send SIGNAL (TERM, KILL) to process `pid`; whether it was delivered.
pub fn signal(pid: u32, name: &str) -> bool {
    Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().is_ok_and(|s| s.success())
}

/// The processes whose command line mentions `dir` (jobs of this cluster's tasks).
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != std::process::id())
        .filter(|pid| fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle)))
        .collect()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Jobs first (their tasks are not children of the test), then the daemons, newest first.
        let _ = self.client("scancel", &["--user=root"]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) && !self.client("squeue", &["-h", "-o", "%i"]).stdout.is_empty() {
            sleep(Duration::from_millis(200));
        }
        while let Some((name, mut child)) = self.daemons.pop() {
            // The pid is our own child's, not yet reaped.
            signal(child.id(), "TERM");
            let start = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && start.elapsed() < Duration::from_secs(10) {
                sleep(Duration::from_millis(50));
            }
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("slurm test: {name} ignored SIGTERM; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Anything still running from this cluster's folder (a task whose step daemon went
        // away with slurmd) is ours: stop it by pid.
        for pid in processes_under(self.dir.path()) {
            signal(pid, "KILL");
        }
    }
}
