//! A tiny classic-BPF assembler: symbolic labels, forward jumps, automatic long jumps.
//!
//! Conditional jumps in cBPF reach at most 255 instructions ahead. The code generator writes
//! jumps to labels without caring about distance; `assemble` lays the program out and turns
//! any conditional branch that is too far into a short branch over an unconditional `ja`
//! (which has a 32-bit offset), repeating until the layout is stable.

use super::SeccompError;

/// One cBPF instruction, laid out like the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_JMP_JA: u16 = 0x05;
const BPF_RET_K: u16 = 0x06;

/// The kernel refuses longer programs (BPF_MAXINSNS).
pub(super) const MAX_INSNS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cond {
    Eq = 0x15,
    Gt = 0x25,
    Ge = 0x35,
    Set = 0x45,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Label(u32);

/// Where a conditional branch goes: the next instruction or a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum To {
    Next,
    L(Label),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Load(u32),
    And(u32),
    Jump { cond: Cond, k: u32, t: To, f: To },
    Goto(Label),
    Ret(u32),
    Bind(Label),
}

/// A program under construction.
#[derive(Debug, Default)]
pub(super) struct Asm {
    ops: Vec<Op>,
    labels: u32,
}

impl Asm {
    pub(super) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }
    pub(super) fn bind(&mut self, l: Label) {
        self.ops.push(Op::Bind(l));
    }
    /// A = 32-bit word at `offset` in `struct seccomp_data`.
    pub(super) fn load(&mut self, offset: u32) {
        self.ops.push(Op::Load(offset));
    }
    pub(super) fn and(&mut self, k: u32) {
        self.ops.push(Op::And(k));
    }
    pub(super) fn jump(&mut self, cond: Cond, k: u32, t: To, f: To) {
        self.ops.push(Op::Jump { cond, k, t, f });
    }
    pub(super) fn goto(&mut self, l: Label) {
        self.ops.push(Op::Goto(l));
    }
    pub(super) fn ret(&mut self, v: u32) {
        self.ops.push(Op::Ret(v));
    }

    /// Lays out and encodes the program.
    pub(super) fn assemble(&self) -> Result<Vec<Insn>, SeccompError> {
        // far[i] = (true branch needs a ja, false branch needs a ja) for jump op i.
        let mut far = vec![(false, false); self.ops.len()];
        let mut pos = vec![0usize; self.ops.len() + 1];
        let mut label_pos = vec![usize::MAX; self.labels as usize];
        loop {
            // Positions of every op and label under the current expansion choice.
            let mut p = 0;
            for (i, op) in self.ops.iter().enumerate() {
                pos[i] = p;
                p += match op {
                    Op::Bind(l) => {
                        label_pos[l.0 as usize] = p;
                        0
                    }
                    Op::Jump { .. } => 1 + far[i].0 as usize + far[i].1 as usize,
                    _ => 1,
                };
            }
            pos[self.ops.len()] = p;
            let mut changed = false;
            for (i, op) in self.ops.iter().enumerate() {
                if let Op::Jump { t, f, .. } = op {
                    let end = pos[i] + 1 + far[i].0 as usize + far[i].1 as usize;
                    // A branch that stays short is relative to the instruction after it.
                    let too_far = |to: &To| {
                        let target = match to {
                            To::Next => end,
                            To::L(l) => label_pos[l.0 as usize],
                        };
                        target != usize::MAX && target.saturating_sub(pos[i] + 1) > 255
                    };
                    if !far[i].0 && too_far(t) {
                        far[i].0 = true;
                        changed = true;
                    }
                    if !far[i].1 && too_far(f) {
                        far[i].1 = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let total = pos[self.ops.len()];
        if total > MAX_INSNS {
            return Err(SeccompError::TooLarge(total));
        }

        let target = |to: &To, end: usize| -> Result<usize, SeccompError> {
            match to {
                To::Next => Ok(end),
                To::L(l) => {
                    let p = label_pos[l.0 as usize];
                    if p == usize::MAX {
                        Err(SeccompError::Internal("jump to unbound label".into()))
                    } else {
                        Ok(p)
                    }
                }
            }
        };
        let mut out = Vec::with_capacity(total);
        for (i, op) in self.ops.iter().enumerate() {
            match *op {
                Op::Bind(_) => {}
                Op::Load(off) => out.push(stmt(BPF_LD_W_ABS, off)),
                Op::And(k) => out.push(stmt(BPF_ALU_AND_K, k)),
                Op::Ret(v) => out.push(stmt(BPF_RET_K, v)),
                Op::Goto(l) => {
                    let to = target(&To::L(l), 0)?;
                    out.push(stmt(BPF_JMP_JA, offset(to, pos[i] + 1)?));
                }
                Op::Jump { cond, k, t, f } => {
                    let (ft, ff) = far[i];
                    let end = pos[i] + 1 + ft as usize + ff as usize;
                    let (tt, tf) = (target(&t, end)?, target(&f, end)?);
                    let mut slot = pos[i] + 1;
                    let mut next_slot = || {
                        slot += 1;
                        slot - 1
                    };
                    let jt_pos = if ft { next_slot() } else { tt };
                    let jf_pos = if ff { next_slot() } else { tf };
                    out.push(Insn {
                        code: cond as u16,
                        jt: short(offset(jt_pos, pos[i] + 1)?)?,
                        jf: short(offset(jf_pos, pos[i] + 1)?)?,
                        k,
                    });
                    if ft {
                        let at = out.len() + 1;
                        out.push(stmt(BPF_JMP_JA, offset(tt, at)?));
                    }
                    if ff {
                        let at = out.len() + 1;
                        out.push(stmt(BPF_JMP_JA, offset(tf, at)?));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn offset(to: usize, from: usize) -> Result<u32, SeccompError> {
    to.checked_sub(from)
        .map(|d| d as u32)
        .ok_or_else(|| SeccompError::Internal("backward jump".into()))
}

fn short(d: u32) -> Result<u8, SeccompError> {
    u8::try_from(d).map_err(|_| SeccompError::Internal("branch out of range".into()))
}

/// Runs a program on a `seccomp_data` image: used by unit tests to check the generated code
/// without loading it into the kernel.
#[cfg(test)]
pub(super) fn run(prog: &[Insn], data: &[u8; 64]) -> u32 {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        pc += 1;
        match i.code {
            BPF_LD_W_ABS => {
                let o = i.k as usize;
                a = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
            }
            BPF_ALU_AND_K => a &= i.k,
            BPF_RET_K => return i.k,
            BPF_JMP_JA => pc += i.k as usize,
            c => {
                let hit = match c {
                    0x15 => a == i.k,
                    0x25 => a > i.k,
                    0x35 => a >= i.k,
                    0x45 => a & i.k != 0,
                    _ => panic!("bad opcode {c:#x}"),
                };
                pc += if hit { i.jt } else { i.jf } as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_branches_get_a_long_jump() {
        let mut asm = Asm::default();
        let far = asm.label();
        asm.load(0);
        asm.jump(Cond::Eq, 7, To::L(far), To::Next);
        for _ in 0..300 {
            asm.ret(1);
        }
        asm.bind(far);
        asm.ret(2);
        let prog = asm.assemble().unwrap();
        assert_eq!(prog.len(), 1 + 2 + 300 + 1);
        let mut data = [0u8; 64];
        data[0] = 7;
        assert_eq!(run(&prog, &data), 2);
        data[0] = 8;
        assert_eq!(run(&prog, &data), 1);
    }
}
