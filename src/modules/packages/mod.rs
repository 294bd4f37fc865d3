//! Packages: modules that install software and the sources it comes from (apt, yum/dnf,
//! package, package_facts, pip, apt_repository, deb822_repository, apt_key).
//!
//! [`pkgkit`] is what they share: the `@@section` framing of query scripts, the apt-get wrapper
//! that waits out the dpkg lock, the host-side download, and glob matching for version specs.

pub mod apt;
pub mod apt_key;
pub mod apt_repository;
pub mod deb822_repository;
pub mod package;
pub mod package_facts;
pub mod pip;
pub mod pkgkit;
pub mod yum;
