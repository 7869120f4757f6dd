pub mod figures;
pub mod icons;
pub mod pagination;
pub mod phone;
pub mod shell;
pub mod states;
pub mod time;
