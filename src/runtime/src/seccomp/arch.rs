//! Architectures: OCI `SCMP_ARCH_*` names, their AUDIT_ARCH tokens and syscall tables.

use super::tables;
use super::SeccompError;

/// The x32 ABI shares AUDIT_ARCH_X86_64 and marks its syscalls with this bit.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// An architecture berth can generate a filter section for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Arch {
    X86_64,
    X32,
    X86,
    Aarch64,
    Arm,
    Riscv64,
}

impl Arch {
    /// The `seccomp_data.arch` value the kernel reports for this ABI.
    pub(super) fn audit(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => 0xC000_003E,
            Arch::X86 => 0x4000_0003,
            Arch::Aarch64 => 0xC000_00B7,
            Arch::Arm => 0x4000_0028,
            Arch::Riscv64 => 0xC000_00F3,
        }
    }

    /// Whether syscall arguments are 32 bits wide (libseccomp then compares the low word only).
    pub(super) fn is_32bit(self) -> bool {
        matches!(self, Arch::X86 | Arch::X32 | Arch::Arm)
    }

    /// The syscall number of `name` on this architecture, if it has one.
    #[cfg(test)]
    pub(super) fn resolve(self, name: &str) -> Option<u32> {
        self.number_of(name)
    }

    /// The syscall number of a name this crate knows exists.
    pub(super) fn number_of(self, name: &str) -> Option<u32> {
        lookup(name).and_then(|i| self.number(i))
    }

    /// The number of the syscall at `index` (from `lookup`) on this architecture.
    pub(super) fn number(self, index: usize) -> Option<u32> {
        let nr = tables::NUMBERS[index][self as usize];
        (nr != tables::NONE).then_some(nr)
    }

    /// Syscall numbers that count towards the "newer than the profile" limit: ARM's private
    /// syscalls live at 0x0f0000+ and would otherwise disable the ENOSYS fallback there.
    pub(super) fn counts_for_max(self, nr: u32) -> bool {
        !(self == Arch::Arm && nr >= 0x000f_0000)
    }

    /// The native architecture of the running kernel's userspace (this build's target).
    pub(super) fn native() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else if cfg!(target_arch = "riscv64") {
            Arch::Riscv64
        } else if cfg!(target_arch = "arm") {
            Arch::Arm
        } else if cfg!(target_arch = "x86") {
            Arch::X86
        } else if cfg!(all(target_arch = "x86_64", target_pointer_width = "32")) {
            Arch::X32
        } else {
            Arch::X86_64
        }
    }

    /// The ABIs whose syscalls this host's kernel can be asked to run.
    fn host_abis() -> &'static [Arch] {
        match Arch::native() {
            Arch::X86_64 | Arch::X32 | Arch::X86 => &[Arch::X86_64, Arch::X86, Arch::X32],
            Arch::Aarch64 | Arch::Arm => &[Arch::Aarch64, Arch::Arm],
            Arch::Riscv64 => &[Arch::Riscv64],
        }
    }
}

/// The index of a syscall name in the tables: one hash probe instead of a binary search per
/// architecture (name resolution was most of the compile time of docker's profile).
pub(super) fn lookup(name: &str) -> Option<usize> {
    let mut h: u32 = 0x811C_9DC5;
    for b in name.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    let mask = tables::SLOTS - 1;
    let mut slot = h as usize & mask;
    loop {
        match tables::INDEX[slot] {
            0 => return None,
            i if tables::NAMES[i as usize - 1] == name => return Some(i as usize - 1),
            _ => slot = (slot + 1) & mask,
        }
    }
}

/// Every architecture name of the runtime spec (and libseccomp), whether or not this host can
/// ever run its code.
pub(super) const OCI_ARCHES: &[&str] = &[
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

fn from_name(name: &str) -> Option<Arch> {
    Some(match name {
        "SCMP_ARCH_X86_64" => Arch::X86_64,
        "SCMP_ARCH_X32" => Arch::X32,
        "SCMP_ARCH_X86" => Arch::X86,
        "SCMP_ARCH_AARCH64" => Arch::Aarch64,
        "SCMP_ARCH_ARM" => Arch::Arm,
        "SCMP_ARCH_RISCV64" => Arch::Riscv64,
        _ => return None,
    })
}

/// The architectures a filter for `names` covers on this host, sorted and deduplicated.
///
/// Like libseccomp, the native architecture is always included. Names of architectures this
/// kernel can never run (e.g. MIPS on x86_64) are accepted and skipped: their section could
/// never be reached.
pub(super) fn select(names: &[String]) -> Result<Vec<Arch>, SeccompError> {
    let mut arches = vec![Arch::native()];
    for name in names {
        if !OCI_ARCHES.contains(&name.as_str()) {
            return Err(SeccompError::UnknownArch(name.clone()));
        }
        if let Some(arch) = from_name(name) {
            if Arch::host_abis().contains(&arch) {
                arches.push(arch);
            }
        }
    }
    arches.sort();
    arches.dedup();
    Ok(arches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_through_the_hash_index() {
        for (i, name) in tables::NAMES.iter().enumerate() {
            assert_eq!(lookup(name), Some(i), "{name}");
        }
        assert_eq!(tables::COLUMNS[Arch::X32 as usize], "X32");
        assert_eq!(tables::COLUMNS[Arch::Riscv64 as usize], "RISCV64");
    }

    #[test]
    fn well_known_numbers_resolve() {
        assert_eq!(Arch::X86_64.resolve("personality"), Some(135));
        assert_eq!(Arch::X86.resolve("personality"), Some(136));
        assert_eq!(Arch::X32.resolve("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(Arch::Aarch64.resolve("clone3"), Some(435));
        assert_eq!(Arch::Aarch64.resolve("open"), None);
        assert_eq!(Arch::X86_64.resolve("mseal"), Some(462));
        assert_eq!(Arch::X86_64.resolve("no_such_syscall"), None);
    }
}
