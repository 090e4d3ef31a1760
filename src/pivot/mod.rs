//! The web app side of Pivot: request parameters and reading Piston JSON into the flow model.
pub mod params;
pub mod piston;
