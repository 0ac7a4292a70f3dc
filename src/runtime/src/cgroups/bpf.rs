//! cgroup v2 device control: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, assembled
//! here from the rule list and attached to the cgroup directory with BPF_PROG_ATTACH.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
//! where access_type = access << 16 | type. It walks the rules from last to first; a rule that
//! matches the device and names some of the still undecided access bits denies (deny rule) or
//! settles those bits (allow rule); when every requested bit is settled, access is allowed.
//! Falling off the end denies. `devices::permits` is the same algorithm in Rust.

use super::devices::Rule;
use super::files::io_err;
use super::CgroupError;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

// Instruction classes, sizes, sources and operations (linux/bpf_common.h, linux/bpf.h).
const BPF_LDX: u8 = 0x01;
const BPF_ALU64: u8 = 0x07;
const BPF_JMP: u8 = 0x05;
const BPF_W: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_K: u8 = 0x00;
const BPF_X: u8 = 0x08;
const BPF_AND: u8 = 0x50;
const BPF_RSH: u8 = 0x70;
const BPF_MOV: u8 = 0xb0;
const BPF_JEQ: u8 = 0x10;
const BPF_JNE: u8 = 0x50;
const BPF_EXIT: u8 = 0x90;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// One `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high nibble
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

const fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(BPF_LDX | BPF_W | BPF_MEM, dst, src, off, 0)
}
const fn alu_k(op: u8, dst: u8, imm: i32) -> Insn {
    insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
}
const fn mov_x(dst: u8, src: u8) -> Insn {
    insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
}
const fn jmp_k(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    insn(BPF_JMP | op | BPF_K, dst, 0, off, imm)
}
const EXIT: Insn = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

/// Assembles the device filter for `rules`.
pub(crate) fn device_filter(rules: &[Rule]) -> Vec<Insn> {
    // r2 = type, r3 = requested access, r4 = major, r5 = minor, r6 = undecided access bits.
    let mut prog = vec![
        ldx_w(2, 1, 0),
        mov_x(3, 2),
        alu_k(BPF_AND, 2, 0xffff),
        alu_k(BPF_RSH, 3, 16),
        ldx_w(4, 1, 4),
        ldx_w(5, 1, 8),
        mov_x(6, 3),
    ];
    for r in rules.iter().rev() {
        // Conditions jump to the end of this block (offset patched below).
        let mut block: Vec<(Insn, bool)> = Vec::new();
        match r.typ {
            'b' => block.push((jmp_k(BPF_JNE, 2, DEV_BLOCK, 0), true)),
            'c' => block.push((jmp_k(BPF_JNE, 2, DEV_CHAR, 0), true)),
            _ => {}
        }
        if let Some(m) = r.major {
            block.push((jmp_k(BPF_JNE, 4, m as i32, 0), true));
        }
        if let Some(m) = r.minor {
            block.push((jmp_k(BPF_JNE, 5, m as i32, 0), true));
        }
        block.push((mov_x(7, 6), false));
        block.push((alu_k(BPF_AND, 7, r.access as i32), false));
        block.push((jmp_k(BPF_JEQ, 7, 0, 0), true));
        if r.allow {
            block.push((alu_k(BPF_AND, 6, !(r.access as i32)), false));
            block.push((jmp_k(BPF_JNE, 6, 0, 0), true));
            block.push((alu_k(BPF_MOV, 0, 1), false));
        } else {
            block.push((alu_k(BPF_MOV, 0, 0), false));
        }
        block.push((EXIT, false));
        let len = block.len();
        for (i, (mut ins, to_end)) in block.into_iter().enumerate() {
            if to_end {
                ins.off = (len - i - 1) as i16;
            }
            prog.push(ins);
        }
    }
    prog.push(alu_k(BPF_MOV, 0, 0));
    prog.push(EXIT);
    prog
}

fn bpf(
    cmd: libc::c_long,
    attr: &mut [u64],
    what: &'static str,
    cgroup: &Path,
) -> Result<i64, CgroupError> {
    // SAFETY: attr is a zero-initialised buffer at least as large as the union members the
    // command reads; the kernel checks that bytes beyond what it knows are zero.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(io_err(what, cgroup, std::io::Error::last_os_error()));
    }
    Ok(r)
}

fn load(prog: &[Insn], cgroup: &Path) -> Result<OwnedFd, CgroupError> {
    let license = b"Apache\0";
    let mut attr = [0u64; 16];
    // union bpf_attr, BPF_PROG_LOAD: prog_type u32, insn_cnt u32, insns u64, license u64, ...
    attr[0] = BPF_PROG_TYPE_CGROUP_DEVICE as u64 | ((prog.len() as u64) << 32);
    attr[1] = prog.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    let fd = bpf(BPF_PROG_LOAD, &mut attr, "load device filter for", cgroup)?;
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// IDs of the device programs attached to the cgroup itself.
fn attached(dir: &OwnedFd, cgroup: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = [0u32; 64];
    let mut attr = [0u64; 8];
    // BPF_PROG_QUERY: target_fd u32, attach_type u32, query_flags u32, attach_flags u32,
    // prog_ids u64, prog_cnt u32.
    attr[0] = dir.as_raw_fd() as u64 | ((BPF_CGROUP_DEVICE as u64) << 32);
    attr[2] = ids.as_mut_ptr() as u64;
    attr[3] = ids.len() as u64;
    bpf(BPF_PROG_QUERY, &mut attr, "query device filters of", cgroup)?;
    let n = (attr[3] as u32 as usize).min(ids.len());
    Ok(ids[..n].to_vec())
}

/// Loads the filter for `rules` and makes it the only device program of the cgroup: the new
/// one is attached before the old ones are detached, so there is no moment without a filter.
pub(crate) fn apply(cgroup: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let dir = nix::fcntl::open(
        cgroup,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| io_err("open", cgroup, std::io::Error::from_raw_os_error(e as i32)))?;
    // SAFETY: open returned a new descriptor we own.
    let dir = unsafe { OwnedFd::from_raw_fd(dir) };
    let old = attached(&dir, cgroup)?;
    let prog = load(&device_filter(rules), cgroup)?;
    let mut attr = [0u64; 4];
    // BPF_PROG_ATTACH: target_fd u32, attach_bpf_fd u32, attach_type u32, attach_flags u32.
    attr[0] = dir.as_raw_fd() as u64 | ((prog.as_raw_fd() as u64) << 32);
    attr[1] = BPF_CGROUP_DEVICE as u64 | ((BPF_F_ALLOW_MULTI as u64) << 32);
    bpf(
        BPF_PROG_ATTACH,
        &mut attr,
        "attach device filter to",
        cgroup,
    )?;
    for id in old {
        let mut attr = [0u64; 2];
        attr[0] = id as u64;
        let Ok(fd) = bpf(
            BPF_PROG_GET_FD_BY_ID,
            &mut attr,
            "open device filter of",
            cgroup,
        ) else {
            continue; // already gone
        };
        // SAFETY: new descriptor from the kernel.
        let old_prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut attr = [0u64; 4];
        attr[0] = dir.as_raw_fd() as u64 | ((old_prog.as_raw_fd() as u64) << 32);
        attr[1] = BPF_CGROUP_DEVICE as u64;
        bpf(
            BPF_PROG_DETACH,
            &mut attr,
            "detach old device filter from",
            cgroup,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::devices::{container_rules, permits, ACC_MKNOD, ACC_READ, ACC_WRITE};
    use super::*;

    /// A tiny interpreter for the instructions we emit, to check the program against
    /// `devices::permits` without loading it into a kernel.
    fn run(prog: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            match i.code {
                c if c == BPF_LDX | BPF_W | BPF_MEM => r[dst] = ctx[(i.off / 4) as usize] as u64,
                c if c == BPF_ALU64 | BPF_MOV | BPF_X => r[dst] = r[src],
                c if c == BPF_ALU64 | BPF_MOV | BPF_K => r[dst] = imm,
                c if c == BPF_ALU64 | BPF_AND | BPF_K => r[dst] &= imm,
                c if c == BPF_ALU64 | BPF_RSH | BPF_K => r[dst] >>= imm,
                c if c == BPF_JMP | BPF_JNE | BPF_K => {
                    if r[dst] != imm {
                        pc += i.off as usize
                    }
                }
                c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                    if r[dst] == imm {
                        pc += i.off as usize
                    }
                }
                c if c == BPF_JMP | BPF_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn program_agrees_with_rule_semantics() {
        use crate::spec::DeviceCgroup;
        let spec = vec![
            DeviceCgroup {
                allow: false,
                access: Some("rwm".into()),
                ..Default::default()
            },
            DeviceCgroup {
                allow: true,
                typ: Some("b".into()),
                major: Some(7),
                minor: None,
                access: Some("r".into()),
            },
            DeviceCgroup {
                allow: true,
                typ: Some("c".into()),
                major: Some(4),
                minor: Some(1),
                access: Some("rw".into()),
            },
            DeviceCgroup {
                allow: false,
                typ: Some("c".into()),
                major: Some(4),
                minor: Some(1),
                access: Some("w".into()),
            },
        ];
        let rules = container_rules(&spec).unwrap();
        let prog = device_filter(&rules);
        for (t, tc) in [(DEV_BLOCK as u32, 'b'), (DEV_CHAR as u32, 'c')] {
            for major in [0, 1, 4, 5, 7, 10, 136] {
                for minor in [0, 1, 2, 3, 5, 7, 8, 9, 200] {
                    for acc in 1..=7 {
                        let want = permits(&rules, tc, major, minor, acc);
                        let got = run(&prog, t, acc, major, minor) == 1;
                        assert_eq!(want, got, "{tc} {major}:{minor} access {acc}");
                    }
                }
            }
        }
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_READ | ACC_WRITE, 1, 3), 1);
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_MKNOD, 1, 1), 1);
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_READ, 1, 1), 0);
        // The default allow-list comes after the spec's rules, as in runc.
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_WRITE, 1, 9), 1);
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_READ, 4, 1), 1);
        assert_eq!(run(&prog, DEV_CHAR as u32, ACC_READ | ACC_WRITE, 4, 1), 0);
        assert_eq!(run(&prog, DEV_BLOCK as u32, ACC_READ, 7, 4), 1);
        assert_eq!(run(&prog, DEV_BLOCK as u32, ACC_WRITE, 7, 4), 0);
    }
}
