//! `nestgrid import-gsy`: a gsy-e setup file → a nestgrid scenario (the mapping lives in
//! `nestgrid_grid::gsy`; `docs/gsy-e.md` describes it), and the in-memory import `run` uses when
//! it is given a gsy-e file.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use nestgrid_grid::gsy::{ImportOptions, Imported};
use nestgrid_grid::{LoadOptions, Topology};
use std::path::{Path, PathBuf};

/// Arguments of `nestgrid import-gsy`.
#[derive(Args)]
pub struct ImportArgs {
    /// gsy-e setup file (JSON: a tree of areas with `children` and assets with a `strategy`).
    setup: PathBuf,
    /// Write the scenario here (profile CSV files go to `<name>-profiles/` next to it) instead
    /// of printing it.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Leave out nodes with unknown strategy types or keyword arguments, with a warning,
    /// instead of failing.
    #[arg(long)]
    lenient: bool,
}

/// Whether `path` holds a gsy-e setup file (a JSON object with a top-level `children` key).
pub fn is_gsy(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| nestgrid_grid::gsy::looks_like_gsy(&text))
}

fn read_and_import(setup: &Path, options: &ImportOptions) -> Result<Imported> {
    let text = std::fs::read_to_string(setup)
        .with_context(|| format!("reading the gsy-e setup file {}", setup.display()))?;
    let base_dir = setup.parent().unwrap_or(Path::new("."));
    let imported = nestgrid_grid::gsy::import(&text, base_dir, options)
        .map_err(|error| anyhow!("{error}"))
        .with_context(|| format!("{} cannot be imported", setup.display()))?;
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(imported)
}

/// Runs `nestgrid import-gsy`.
pub fn run(args: ImportArgs) -> Result<()> {
    let dir = match &args.output {
        Some(output) => output
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        None => PathBuf::from("."),
    };
    let profile_dir = match &args.output {
        Some(output) => format!(
            "{}-profiles",
            output
                .file_stem()
                .map_or("scenario".into(), |stem| stem.to_string_lossy())
        ),
        None => "gsy-profiles".into(),
    };
    let options = ImportOptions {
        lenient: args.lenient,
        profile_dir,
    };
    let imported = read_and_import(&args.setup, &options)?;
    if !imported.files.is_empty() {
        imported
            .write_profiles(&dir)
            .with_context(|| format!("writing profile files in {}", dir.display()))?;
        eprintln!(
            "wrote {} profile file(s) to {}",
            imported.files.len(),
            dir.join(&options.profile_dir).display()
        );
    }
    // The scenario is checked by the loader before it is written.
    nestgrid_grid::load_str(&imported.yaml, &dir, &LoadOptions::default())
        .map_err(|error| anyhow!("{error}"))
        .context("the imported scenario does not load (please report this as a bug)")?;
    match &args.output {
        Some(output) => std::fs::write(output, &imported.yaml)
            .with_context(|| format!("writing {}", output.display()))?,
        None => print!("{}", imported.yaml),
    }
    Ok(())
}

/// Imports a gsy-e setup file for `nestgrid run`: the scenario and its profile files are written
/// to `<out>/gsy-import/` (a record of what ran) and loaded from there. With `lenient`, nodes
/// that cannot be imported are left out with a warning.
pub fn load_gsy(
    setup: &Path,
    out: &Path,
    options: &LoadOptions,
    lenient: bool,
) -> Result<Topology> {
    let import_options = ImportOptions {
        lenient,
        ..ImportOptions::default()
    };
    let imported = read_and_import(setup, &import_options)?;
    let dir = out.join("gsy-import");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    imported
        .write_profiles(&dir)
        .with_context(|| format!("writing profile files in {}", dir.display()))?;
    let scenario = dir.join("scenario.yaml");
    std::fs::write(&scenario, &imported.yaml)
        .with_context(|| format!("writing {}", scenario.display()))?;
    nestgrid_grid::load_file(&scenario, options)
        .map_err(|error| anyhow!("{error}"))
        .with_context(|| {
            format!(
                "the scenario imported from {} is not valid",
                setup.display()
            )
        })
}

/// Imports a gsy-e setup file for `nestgrid validate`, writing nothing the user keeps: profile
/// files go to a temporary folder that is removed afterwards.
pub fn check_gsy(setup: &Path) -> Result<Topology> {
    let dir = std::env::temp_dir().join(format!("nestgrid-validate-{}", std::process::id()));
    let topology = load_gsy(setup, &dir, &LoadOptions::default(), false);
    let _ = std::fs::remove_dir_all(&dir);
    topology
}
