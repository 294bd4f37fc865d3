//! Where inventory comes from: files and directories (`-i`), text or a parsed document a caller
//! built (a generated inventory needs no temporary file), and dynamic sources: inventory plugins
//! that a YAML document configures (`plugin: NAME`) and that find hosts by asking something
//! else, such as a cloud API. The application registers the dynamic sources it has through
//! [`InventoryOptions`]; this layer knows none of them by name.

use super::data::{Data, VarMap};
use crate::error::{LoadError, LoadResult, Span};
use crate::yaml::Node;
use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::Arc;

/// One inventory source.
#[derive(Clone, Debug)]
pub enum Source {
    /// A file, a directory, or hosts separated by commas (`-i 'h1,h2,'`); `host_vars/` and
    /// `group_vars/` beside it are read too.
    Path(PathBuf),
    /// Inventory text (INI or YAML, told apart as for a file named `origin`) standing for the
    /// file `origin`: errors and `inventory_file` name it, but nothing is read from it or from
    /// beside it.
    Text { origin: PathBuf, text: String },
    /// A YAML inventory document already parsed (static groups, or a dynamic source's
    /// configuration) standing for the file `origin`, as for [`Source::Text`].
    Document { origin: PathBuf, doc: Node },
}

impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Source {
        Source::Path(p)
    }
}

/// How sources are read.
#[derive(Clone, Default)]
pub struct InventoryOptions {
    /// The dynamic sources a YAML document may configure, asked in order; a document none of
    /// them accepts is read as a static inventory.
    pub dynamic: Vec<Arc<dyn DynamicSource>>,
}

/// An inventory plugin: finds hosts and groups as a YAML document configures it.
pub trait DynamicSource: Send + Sync {
    /// Whether `doc` configures this source (usually: its `plugin:` names it).
    fn accepts(&self, doc: &Node) -> bool;
    /// Reads the configuration in `doc` and finds its hosts and groups. Errors in the
    /// configuration point into `doc`.
    fn load(&self, doc: &Node) -> LoadResult<DynamicInventory>;
}

/// The hosts and groups one dynamic source found, ready for the inventory to add.
#[derive(Clone, Debug, Default)]
pub struct DynamicInventory {
    /// Host name → its variables, in the order the source found them.
    pub hosts: IndexMap<String, VarMap>,
    /// Group name → members.
    pub groups: IndexMap<String, DynamicGroup>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicGroup {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
}

impl DynamicInventory {
    /// Adds the groups (with their hosts and children) and each host's variables; a child
    /// relation that would make a loop is an error at `span` (the source's document).
    pub(super) fn add_to(self, data: &mut Data, span: &Span) -> LoadResult<()> {
        for (group, g) in &self.groups {
            data.add_group(group);
            for h in &g.hosts {
                data.add_host(h, group, None);
            }
        }
        for (group, g) in &self.groups {
            for child in &g.children {
                data.add_child(group, child)
                    .map_err(|e| LoadError::new(span, e.to_string()))?;
            }
        }
        for (host, vars) in self.hosts {
            for (k, v) in vars {
                data.set_host_var(&host, &k, v);
            }
        }
        Ok(())
    }
}
