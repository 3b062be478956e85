//! The lake on Azure Blob Storage / ADLS Gen2, tested against Azurite: each test starts its own
//! emulator on 127.0.0.1 (a free port, a fresh data folder, no telemetry) and stops it when it
//! ends, failed or not. Skipped (visibly) when Azurite or the Python modules are not installed,
//! unless ECOMIX_REQUIRE_AZURITE is set (as in CI).

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Azurite's well-known development account (public, documented by Microsoft).
const ACCOUNT: &str = "devstoreaccount1";
const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Credentials of the developer's own environment must not leak into these tests.
const AZURE_VARIABLES: [&str; 8] = [
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "ECOMIX_PIPELINE",
];

struct Azurite {
    binary: PathBuf,
    python: String,
    folder: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Azurite {
    /// A running emulator, or `None` after saying why the test is skipped.
    fn start() -> Option<Self> {
        let required = std::env::var_os("ECOMIX_REQUIRE_AZURITE").is_some();
        let Some(binary) = azurite_binary() else {
            assert!(
                !required,
                "ECOMIX_REQUIRE_AZURITE is set but azurite-blob is not found (ECOMIX_AZURITE, \
                 ~/.cache/ecomix-azurite or PATH)"
            );
            eprintln!("SKIPPED: Azurite is not installed (npm install azurite)");
            return None;
        };
        let python = python_with("azure.storage.blob, deltalake")?;
        let folder = tempfile::Builder::new()
            .prefix("ecomix-azurite-")
            .tempdir()
            .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut azurite = Self {
            binary,
            python,
            folder,
            port,
            child: None,
        };
        azurite.spawn();
        Some(azurite)
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(&self.binary)
            .args(["--blobHost", "127.0.0.1", "--blobPort"])
            .arg(self.port.to_string())
            .arg("--location")
            .arg(self.folder.path().join("data"))
            .args(["--disableTelemetry", "--skipApiVersionCheck"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("azurite-blob starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Azurite did not listen on port {} within 60 s:\n{}",
                self.port,
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the emulator the way a service stops (SIGTERM: it saves its state), then waits.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.folder.path().join("azurite.log")
    }

    /// Azurite's access log: one line per request.
    fn requests(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Containers are made with Azure's own SDK: object_store (and so ecomix) does not create
    /// them, as on a real account where they come with the storage's provisioning.
    fn python(&self, script: &str) -> Output {
        let connection = format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};BlobEndpoint={}/{ACCOUNT};",
            self.endpoint()
        );
        let output = Command::new(&self.python)
            .args(["-c", script])
            .env("CONNECTION", connection)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        output
    }

    fn create_container(&self, name: &str) {
        self.python(&format!(
            "import os; from azure.storage.blob import BlobServiceClient as S; \
             S.from_connection_string(os.environ['CONNECTION']).create_container('{name}')"
        ));
    }

    /// Uploads every file of `folder` under `container/prefix/`.
    fn upload(&self, folder: &Path, container: &str, prefix: &str) {
        self.python(&format!(
            "import os; from azure.storage.blob import BlobServiceClient as S\n\
             c = S.from_connection_string(os.environ['CONNECTION']).get_container_client('{container}')\n\
             for f in sorted(os.listdir({folder:?})):\n    \
                 c.upload_blob('{prefix}/' + f, open(os.path.join({folder:?}, f), 'rb').read())"
        ));
    }

    /// How many Parquet blobs are under `prefix`, those under the `except` sub-folders aside.
    fn parquet_blobs(&self, container: &str, prefix: &str, except: &[&str]) -> u64 {
        let output = self.python(&format!(
            "import os; from azure.storage.blob import BlobServiceClient as S\n\
             c = S.from_connection_string(os.environ['CONNECTION']).get_container_client('{container}')\n\
             names = [b.name[len('{prefix}'):] for b in c.list_blobs(name_starts_with='{prefix}')]\n\
             print(sum(1 for n in names if n.endswith('.parquet') and not n.startswith(tuple({except:?}))))"
        ));
        text(&output.stdout).trim().parse().unwrap()
    }

    /// The binary, pointed at this emulator the way a user does: AZURE_STORAGE_USE_EMULATOR and
    /// AZURITE_BLOB_STORAGE_URL.
    fn ecomix(&self, lake: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ecomix"));
        command
            .arg("--lake")
            .arg(lake)
            .current_dir(repo_root())
            .env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", self.endpoint())
            .env("NO_COLOR", "1")
            .env_remove("ECOMIX_LAKE");
        for variable in AZURE_VARIABLES {
            command.env_remove(variable);
        }
        command
    }

    /// Runs the binary on `lake` with `args`.
    fn run(&self, lake: &str, args: &[&str]) -> Output {
        self.ecomix(lake).args(args).output().unwrap()
    }

    /// The gold tables as Python's deltalake reads them (see tests/interop/dump_gold.py).
    fn dump_gold(&self, lake: &str) -> Value {
        let output = Command::new(&self.python)
            .arg(repo_root().join("tests/interop/dump_gold.py"))
            .arg(lake)
            .env("AZURITE_BLOB_STORAGE_URL", self.endpoint())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn azurite_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ECOMIX_AZURITE") {
        return Some(PathBuf::from(path));
    }
    let cached = std::env::var_os("HOME").map(|home| {
        PathBuf::from(home).join(".cache/ecomix-azurite/node_modules/.bin/azurite-blob")
    });
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("azurite-blob"))
            .find(|p| p.is_file())
    });
    cached.filter(|p| p.is_file()).or(on_path)
}

/// The four national real-time files of `../shared/data/real/`.
fn national_files() -> Option<PathBuf> {
    Some(real_data()?.join("rte_xls/national"))
}

/// What `ecomix status --json` says of each data table (the run log, which records run ids and
/// times, aside): rows, version, files and partitions.
fn status_of(output: Output) -> Vec<Value> {
    let output = succeeded(output);
    let status: Value = serde_json::from_slice(&output.stdout).unwrap();
    status["tables"]
        .as_array()
        .expect("status lists the tables")
        .iter()
        .filter(|t| t["table"] != "system._ecomix_runs")
        .map(|t| {
            serde_json::json!({
                "table": t["table"], "rows": t["rows"], "version": t["version"],
                "files": t["files"], "partitions": t["partitions"],
                "partition_columns": t["partition_columns"],
            })
        })
        .collect()
}

/// Each table's row count only.
fn rows_of(status: &[Value]) -> Vec<(String, Value)> {
    status
        .iter()
        .map(|t| (t["table"].to_string(), t["rows"].clone()))
        .collect()
}

type Reference = (tempfile::TempDir, Value, Vec<Value>);

/// The job (the bundled sample, then the four national real-time files) on a local lake: what
/// the same job on Azure must give. Built once for all the tests of this file.
fn local_reference(azurite: &Azurite) -> &'static Reference {
    static LOCAL: OnceLock<Reference> = OnceLock::new();
    LOCAL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let national = national_files().expect("the real files are present");
        succeeded(local(&lake, &["run", "data/"]));
        succeeded(local(&lake, &["run", national.to_str().unwrap()]));
        let gold = azurite.dump_gold(lake.to_str().unwrap());
        let status = status_of(local(&lake, &["--json", "status"]));
        (dir, gold, status)
    })
}

/// The binary on a local lake, from the repository's root (where `data/` is).
fn local(lake: &Path, args: &[&str]) -> Output {
    ecomix(lake)
        .args(args)
        .current_dir(repo_root())
        .env_remove("ECOMIX_PIPELINE")
        .output()
        .unwrap()
}

#[test]
fn the_job_on_azurite_equals_the_job_on_a_local_lake() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let Some(national) = national_files() else {
        return;
    };
    azurite.create_container("lake");
    let lake = "az://lake/ecomix";
    succeeded(azurite.run(lake, &["run", "data/"]));
    let second = succeeded(azurite.run(lake, &["run", national.to_str().unwrap()]));
    assert!(
        text(&second.stdout).contains("Z-order"),
        "{}",
        text(&second.stdout)
    );

    let (_, local_gold, local_status) = local_reference(&azurite);
    let status = status_of(azurite.run(lake, &["--json", "status"]));
    assert_eq!(&status, local_status, "status on Azure and locally");
    let gold = azurite.dump_gold(lake);
    assert_eq!(
        &gold, local_gold,
        "gold on Azure and locally, value for value"
    );
    for (name, table) in gold.as_object().unwrap() {
        assert!(
            table["rows"].as_array().unwrap().len() > 10,
            "{name} has rows"
        );
        assert!(
            table["operations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == "OPTIMIZE"),
            "{name}: the run's optimize is in the table's history"
        );
    }

    // The same tables through the ADLS Gen2 form of the URI.
    let abfss = format!("abfss://lake@{ACCOUNT}.dfs.core.windows.net/ecomix");
    let through_abfss = status_of(azurite.run(&abfss, &["--json", "status"]));
    assert_eq!(through_abfss, status);

    // The optimize left replaced files behind: a vacuum with no retention deletes them (the
    // blobs left are the files of the tables' current versions) and every table keeps its rows.
    let dry = succeeded(azurite.run(lake, &["vacuum", "--retention-hours", "0", "--dry-run"]));
    // Files listed under each table's line, the run log's aside (status leaves it out too).
    let listed = text(&dry.stdout)
        .split("\nvacuum ")
        .filter(|section| !section.starts_with("system._ecomix_runs"))
        .flat_map(str::lines)
        .filter(|l| l.ends_with(".parquet"))
        .count();
    let live: u64 = status.iter().map(|t| t["files"].as_u64().unwrap()).sum();
    let stored = |azurite: &Azurite| azurite.parquet_blobs("lake", "ecomix/", &["system/"]);
    assert!(listed > 0, "{}", text(&dry.stdout));
    assert_eq!(stored(&azurite), live + listed as u64, "before the vacuum");
    succeeded(azurite.run(lake, &["vacuum", "--retention-hours", "0"]));
    assert_eq!(stored(&azurite), live, "after the vacuum");
    let vacuumed = status_of(azurite.run(lake, &["--json", "status"]));
    assert_eq!(rows_of(&vacuumed), rows_of(&status));
    let gold_after = azurite.dump_gold(lake);
    for (name, table) in gold_after.as_object().unwrap() {
        assert_eq!(
            table["rows"], local_gold[name]["rows"],
            "{name} after vacuum"
        );
    }
}

#[test]
fn inputs_are_read_from_the_object_store() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    azurite.create_container("lake");
    azurite.create_container("inputs");
    azurite.upload(&repo_root().join("data"), "inputs", "rte/2025");

    let reference = tempfile::tempdir().unwrap();
    let local_lake = reference.path().join("lake");
    succeeded(local(&local_lake, &["ingest", "data/"]));
    let expected = status_of(local(&local_lake, &["--json", "status"]));

    let lake = "az://lake/from-blobs";
    // --emulator does what AZURE_STORAGE_USE_EMULATOR does.
    let output = succeeded(
        azurite
            .ecomix(lake)
            .env_remove("AZURE_STORAGE_USE_EMULATOR")
            .args(["--emulator", "ingest", "az://inputs/rte/"])
            .output()
            .unwrap(),
    );
    let stdout = text(&output.stdout);
    let files = std::fs::read_dir(repo_root().join("data")).unwrap().count();
    assert_eq!(
        stdout.matches("ingested  az://inputs/rte/2025/").count(),
        files,
        "{stdout}"
    );
    let status = status_of(azurite.run(lake, &["--json", "status"]));
    assert_eq!(
        status, expected,
        "bronze from blobs and from the local files"
    );

    // One object by its URL (already in bronze: skipped), and one that does not exist.
    let output = azurite.run(
        lake,
        &[
            "ingest",
            "az://inputs/rte/2025/eco2mix-national-tr.csv",
            "az://inputs/rte/2024/",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("az://inputs/rte/2024/: no such object or folder"),
        "{}",
        text(&output.stderr)
    );
}

/// What a user sees for the usual mistakes: one sentence naming the problem, exit 2, and
/// neither the key nor the stack of HTTP errors under it.
#[test]
fn wrong_key_unknown_container_and_no_account_are_clear_errors() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    azurite.create_container("lake");
    // A well-formed key of the right length that is not the account's.
    let wrong_key =
        "c2VjcmV0LWtleS10aGF0LWlzLW5vdC10aGUtYWNjb3VudHMtb25lLTEyMzQ1Njc4OTAxMjM0NTY3ODk=";
    let internals = [
        "Kernel error",
        "Generic MicrosoftAzure",
        "Error performing",
        "<?xml",
    ];
    // With -vv the debug log shows the storage's answers (that is what it is for), masked.
    let clean = |output: &Output, wanted: &str, verbose: bool| {
        let (out, err) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(2), "{out}\n{err}");
        assert!(err.contains(wanted), "{err}");
        for secret in [wrong_key, ACCOUNT_KEY] {
            assert!(
                !out.contains(secret) && !err.contains(secret),
                "{out}\n{err}"
            );
        }
        if !verbose {
            for internal in internals {
                assert!(!err.contains(internal), "{err}");
            }
        }
    };

    // The key from the environment, for every command.
    for args in [
        vec!["status"],
        vec!["--json", "ingest", "data/"],
        vec!["-vv", "transform"],
        vec!["gold"],
        vec!["optimize"],
        vec!["vacuum"],
        vec!["run", "data/"],
    ] {
        let output = azurite
            .ecomix("az://lake/x")
            .env("AZURE_STORAGE_ACCOUNT_KEY", wrong_key)
            .args(&args)
            .output()
            .unwrap();
        clean(
            &output,
            "the storage account refused the credentials",
            args.contains(&"-vv"),
        );
    }

    // The key from the pipeline file's [storage] section, through an environment variable.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("azure.toml");
    std::fs::write(
        &pipeline,
        "lake = \"az://lake/x\"\n[storage]\naccount_key = \"${LAKE_KEY}\"\n",
    )
    .unwrap();
    let output = azurite
        .ecomix("az://lake/x")
        .env("LAKE_KEY", wrong_key)
        .arg("--pipeline")
        .arg(&pipeline)
        .args(["-vv", "status"])
        .output()
        .unwrap();
    clean(&output, "the storage account refused the credentials", true);

    // A bearer token (as a managed identity or `az account get-access-token` gives) that the
    // account refuses: the token is not printed either, not even in the debug log.
    let bearer = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLWJvZHk.c2lnbmF0dXJl";
    let output = azurite
        .ecomix("az://lake/x")
        .env("AZURE_STORAGE_TOKEN", bearer)
        .args(["-vv", "--json", "status"])
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    for part in bearer.split('.') {
        assert!(
            !text(&output.stdout).contains(part) && !text(&output.stderr).contains(part),
            "{}",
            text(&output.stderr)
        );
    }

    let output = azurite
        .ecomix("az://missing/x")
        .arg("status")
        .output()
        .unwrap();
    clean(&output, "the container does not exist", false);

    let output = azurite
        .ecomix("az://lake/x")
        .env_remove("AZURE_STORAGE_USE_EMULATOR")
        .arg("status")
        .output()
        .unwrap();
    clean(&output, "no storage account given", false);
}

/// A SAS token, as a storage admin hands out: with every permission the job runs; read-only,
/// reads work and a write is refused in one sentence naming the missing permission; the token
/// never shows.
#[test]
fn a_sas_token_works_and_a_read_only_one_is_a_clear_permission_error() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    azurite.create_container("lake");
    let sas = |permission: &str| {
        let output = azurite.python(&format!(
            "import datetime as d; from azure.storage.blob import generate_container_sas as g\n\
             print(g('{ACCOUNT}', 'lake', account_key='{ACCOUNT_KEY}', permission='{permission}', \
             expiry=d.datetime.now(d.timezone.utc) + d.timedelta(hours=1)))"
        ));
        text(&output.stdout).trim().to_string()
    };
    let (full, read_only) = (sas("racwdl"), sas("rl"));
    let signature = |token: &str| {
        token
            .split('&')
            .find_map(|p| p.strip_prefix("sig="))
            .unwrap()
            .to_string()
    };
    let lake = "az://lake/sas";
    let output = azurite
        .ecomix(lake)
        .env("AZURE_STORAGE_SAS_KEY", &full)
        .args(["run", "data/"])
        .output()
        .unwrap();
    let output = succeeded(output);
    assert!(!text(&output.stdout).contains(&signature(&full)));

    // The token in the variable, or in the URI as a "SAS URL".
    let sas_url = format!("{lake}?{read_only}");
    let status = azurite.run(&sas_url, &["--json", "status"]);
    assert!(!text(&status.stdout).contains(&signature(&read_only)));
    let status = status_of(status);
    assert!(
        status.iter().all(|t| t["rows"].as_u64().unwrap() > 0),
        "{status:?}"
    );

    for verbose in [false, true] {
        let mut command = if verbose {
            let mut c = azurite.ecomix(&sas_url);
            c.args(["-vv", "--json"]);
            c
        } else {
            let mut c = azurite.ecomix(lake);
            c.env("AZURE_STORAGE_SAS_KEY", &read_only);
            c
        };
        let output = command
            .args(["ingest", "--force", "data/eco2mix-national-tr.csv"])
            .output()
            .unwrap();
        let (out, err) = (text(&output.stdout), text(&output.stderr));
        assert_eq!(output.status.code(), Some(2), "{out}\n{err}");
        assert!(
            err.contains("the credentials were accepted but do not allow this operation"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        for token in [&full, &read_only] {
            assert!(
                !out.contains(&signature(token)) && !err.contains(&signature(token)),
                "{err}"
            );
        }
    }
}

/// The storage goes away while gold is being written: the run stops with a clear error and
/// every table stays at a committed version; once the storage is back, running the job again
/// gives the tables of an uninterrupted job.
#[test]
fn azurite_stopped_mid_run_then_a_rerun_converges() {
    let Some(mut azurite) = Azurite::start() else {
        return;
    };
    let Some(national) = national_files() else {
        return;
    };
    azurite.create_container("lake");
    let lake = "az://lake/interrupted";
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("azure.toml");
    // Few, quick retries: the storage stays down, so the run must give up soon.
    std::fs::write(
        &pipeline,
        "[storage]\nmax_retries = \"2\"\nretry_timeout = \"10s\"\n",
    )
    .unwrap();
    succeeded(
        azurite
            .ecomix(lake)
            .arg("--pipeline")
            .arg(&pipeline)
            .args(["run", "data/"])
            .output()
            .unwrap(),
    );

    let stderr_path = dir.path().join("stderr");
    let seen = azurite.requests().len();
    let mut job = azurite
        .ecomix(lake)
        .env("ECOMIX_LOCK_TTL_SECONDS", "3")
        .arg("--pipeline")
        .arg(&pipeline)
        .args(["run", national.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    let gold_write = "PUT /devstoreaccount1/lake/interrupted/gold/";
    while !azurite.requests()[seen..].contains(gold_write) {
        assert!(
            job.try_wait().unwrap().is_none(),
            "the job ended before gold was written"
        );
        assert!(Instant::now() < deadline, "gold was never written");
        std::thread::sleep(Duration::from_millis(10));
    }
    azurite.stop();
    let status = wait_with_timeout(&mut job, Duration::from_secs(300));
    let mut stderr = String::new();
    File::open(&stderr_path)
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach the storage service at {}",
            azurite.endpoint()
        )),
        "{stderr}"
    );
    for internal in ["Kernel error", "Generic MicrosoftAzure", "Error performing"] {
        assert!(!stderr.contains(internal), "{stderr}");
    }

    // The stopped run could not free its write lease: the re-run waits for it to expire.
    azurite.spawn();
    std::thread::sleep(Duration::from_secs(4));
    succeeded(
        azurite
            .ecomix(lake)
            .arg("--pipeline")
            .arg(&pipeline)
            .args(["run", national.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    let (_, local_gold, local_status) = local_reference(&azurite);
    let gold = azurite.dump_gold(lake);
    for (name, table) in local_gold.as_object().unwrap() {
        assert_eq!(gold[name]["rows"], table["rows"], "{name} after the re-run");
    }
    let status = status_of(azurite.run(lake, &["--json", "status"]));
    assert_eq!(
        rows_of(&status),
        rows_of(local_status),
        "no duplicated or lost row"
    );
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the job did not stop within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A proxy on 127.0.0.1 in front of Azurite that answers every `every`-th request with what
/// Azure answers when it throttles (503 `ServerBusy`) and forwards the others, one request per
/// connection.
struct Throttle {
    port: u16,
    requests: Arc<AtomicUsize>,
    throttled: Arc<AtomicUsize>,
}

fn throttle(upstream: u16, every: usize) -> Throttle {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let (counted, refused) = (requests.clone(), throttled.clone());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            let refused = refused.clone();
            std::thread::spawn(move || {
                let _ = relay(client, upstream, n % every == 0, &refused);
            });
        }
    });
    Throttle {
        port,
        requests,
        throttled,
    }
}

fn relay(
    client: TcpStream,
    upstream: u16,
    busy: bool,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        assert!(
            !lower.starts_with("transfer-encoding"),
            "chunked requests are not relayed"
        );
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut client = client;
    if busy {
        refused.fetch_add(1, Ordering::SeqCst);
        let message = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>\
                       <Message>The server is busy.</Message></Error>";
        write!(
            client,
            "HTTP/1.1 503 Server Busy\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\
             x-ms-error-code: ServerBusy\r\nconnection: close\r\n\r\n{message}",
            message.len()
        )?;
        return Ok(());
    }
    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.write_all(&head)?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    client.write_all(&response)
}

/// Azure throttles busy accounts: the job goes through a storage that answers every third
/// request with 503 ServerBusy, retries them with backoff (visible with -v), and writes the same
/// tables as on a local lake.
#[test]
fn throttled_requests_are_retried_and_the_job_completes() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let Some(national) = national_files() else {
        return;
    };
    azurite.create_container("lake");
    let proxy = throttle(azurite.port, 3);
    let through_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let lake = "az://lake/throttled";
    // Short backoffs keep the test quick; they also show the retry settings are read.
    let dir = tempfile::tempdir().unwrap();
    let pipeline = dir.path().join("azure.toml");
    std::fs::write(
        &pipeline,
        "[storage]\nbackoff_config.init_backoff = \"5ms\"\nbackoff_config.max_backoff = \"50ms\"\n",
    )
    .unwrap();
    for inputs in ["data/", national.to_str().unwrap()] {
        let output = succeeded(
            azurite
                .ecomix(lake)
                .env("AZURITE_BLOB_STORAGE_URL", &through_proxy)
                .arg("--pipeline")
                .arg(&pipeline)
                .args(["-v", "run", inputs])
                .output()
                .unwrap(),
        );
        assert!(
            text(&output.stderr).contains("503 Service Unavailable, backing off"),
            "{}",
            text(&output.stderr)
        );
    }
    let throttled = proxy.throttled.load(Ordering::SeqCst);
    let requests = proxy.requests.load(Ordering::SeqCst);
    eprintln!("{throttled} of {requests} requests throttled");
    assert!(
        throttled >= 20 && throttled * 3 <= requests + 2,
        "{throttled} of {requests}"
    );

    let (_, local_gold, _) = local_reference(&azurite);
    let gold = azurite.dump_gold(lake);
    for (name, table) in local_gold.as_object().unwrap() {
        assert_eq!(
            gold[name]["rows"], table["rows"],
            "{name} through a throttling storage"
        );
    }
}

/// On Azure the write lock is a lease blob: a second run at the same time is told the lake is
/// busy (exit 3); a run killed without freeing it blocks others only until the lease expires,
/// then the next run takes it over and converges to the uninterrupted job's tables.
#[test]
fn the_write_lease_keeps_runs_apart_and_expires_after_a_kill() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let Some(national) = national_files() else {
        return;
    };
    azurite.create_container("lake");
    let lake = "az://lake/leased";
    succeeded(azurite.run(lake, &["run", "data/"]));

    // Killed while it holds the lease (a 3 s lease, renewed every second).
    let seen = azurite.requests().len();
    let mut job = azurite
        .ecomix(lake)
        .env("ECOMIX_LOCK_TTL_SECONDS", "3")
        .args(["-q", "run", national.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !azurite.requests()[seen..]
        .contains("PUT /devstoreaccount1/lake/leased/bronze/eco2mix_bronze/_ingest_date")
    {
        assert!(
            job.try_wait().unwrap().is_none(),
            "the job ended before writing"
        );
        assert!(Instant::now() < deadline, "the job never wrote");
        std::thread::sleep(Duration::from_millis(10));
    }
    job.kill().unwrap();
    job.wait().unwrap();

    let busy = azurite.run(lake, &["run", national.to_str().unwrap()]);
    assert_eq!(busy.status.code(), Some(3), "{}", text(&busy.stderr));
    assert!(
        text(&busy.stderr).contains("another ecomix run is writing to az://lake/leased/"),
        "{}",
        text(&busy.stderr)
    );
    // Reading needs no lock.
    succeeded(azurite.ecomix(lake).arg("status").output().unwrap());

    std::thread::sleep(Duration::from_secs(4));
    let taken_over = succeeded(azurite.run(lake, &["run", national.to_str().unwrap()]));
    assert!(
        text(&taken_over.stderr).contains("taking over the expired write lease"),
        "{}",
        text(&taken_over.stderr)
    );
    let (_, local_gold, local_status) = local_reference(&azurite);
    let gold = azurite.dump_gold(lake);
    for (name, table) in local_gold.as_object().unwrap() {
        assert_eq!(
            gold[name]["rows"], table["rows"],
            "{name} after the take-over"
        );
    }
    let status = status_of(azurite.run(lake, &["--json", "status"]));
    assert_eq!(rows_of(&status), rows_of(local_status));

    // Two runs at once: one writes, the other finds the lake busy; the lease is freed after.
    let children: Vec<_> = (0..2)
        .map(|_| {
            azurite
                .ecomix(lake)
                .args(["ingest", "--force", "data/eco2mix-national-tr.csv"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut codes: Vec<Option<i32>> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code())
        .collect();
    codes.sort();
    assert!(
        codes == [Some(0), Some(3)] || codes == [Some(0), Some(0)],
        "{codes:?}"
    );
    succeeded(azurite.run(lake, &["ingest", "--force", "data/eco2mix-national-tr.csv"]));
}

/// A run whose lease expired while it was stalled (SIGSTOP: a frozen VM, a long GC pause) and
/// was taken over by another run must not write on: it stops before its next commit (exit 3),
/// and it does not free the other run's lease.
#[test]
fn a_run_that_lost_its_lease_stops_before_committing() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let Some(national) = national_files() else {
        return;
    };
    azurite.create_container("lake");
    let lake = "az://lake/stalled";
    succeeded(azurite.run(lake, &["run", "data/"]));

    let seen = azurite.requests().len();
    let stalled = azurite
        .ecomix(lake)
        .env("ECOMIX_LOCK_TTL_SECONDS", "3")
        .args(["run", national.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !azurite.requests()[seen..]
        .contains("PUT /devstoreaccount1/lake/stalled/system/writer.lock")
    {
        assert!(Instant::now() < deadline, "the run never took the lease");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = stalled.id().to_string();
    let signal = |name: &str| {
        assert!(
            Command::new("kill")
                .args([name, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_secs(4));
    // The lease has expired: another run takes it over and writes.
    let other = succeeded(
        azurite
            .ecomix(lake)
            .env("ECOMIX_LOCK_TTL_SECONDS", "30")
            .args(["ingest", "--force", "data/eco2mix-national-tr.csv"])
            .output()
            .unwrap(),
    );
    assert!(
        text(&other.stderr).contains("taking over the expired write lease"),
        "{}",
        text(&other.stderr)
    );
    signal("-CONT");
    let output = stalled.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("took this run's write lease"), "{stderr}");
    // The tables read, and a new run converges.
    succeeded(azurite.run(lake, &["run", national.to_str().unwrap()]));
    let (_, local_gold, _) = local_reference(&azurite);
    let gold = azurite.dump_gold(lake);
    for (name, table) in local_gold.as_object().unwrap() {
        assert_eq!(gold[name]["rows"], table["rows"], "{name}");
    }
}
