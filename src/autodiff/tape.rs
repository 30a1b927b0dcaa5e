//! The tape, its variable handles and the gradient store.

use super::{Element, Tensor};
use crate::error::{Error, Result};
use crate::par::Par;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Backward closure of a node: given `∂L/∂out` and which parents need a gradient, returns
/// `∂L/∂parent` for each parent (same order as the node's parents; `None` = no gradient).
pub(crate) type BackwardFn<T> = Box<dyn FnOnce(&Tensor<T>, &[bool]) -> Vec<Option<Tensor<T>>>>;

struct Node<T> {
    value: Rc<Tensor<T>>,
    parents: Vec<usize>,
    backward: Option<BackwardFn<T>>,
    requires_grad: bool,
}

/// The record of one step's computation. See the [module docs](super).
pub struct Tape<T: Element> {
    nodes: RefCell<Vec<Node<T>>>,
    bindings: RefCell<Vec<(String, usize)>>,
    par: Par,
    /// Steps recorded and consumed so far: [`Tape::backward`] adds one, and every [`Var`]
    /// remembers the generation it was created in.
    generation: Cell<u64>,
}

/// A handle to a node of a [`Tape`]: cheap to copy, valid until the tape's `backward`.
///
/// It carries the tape generation it was created in; once `backward` has consumed that
/// generation the handle is *stale* (its id may name a node of a later step), and using it is
/// an [`Error::StaleVar`] (see [`Var::try_value`]).
#[derive(Clone, Copy)]
pub struct Var<'t, T: Element> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) id: usize,
    pub(crate) generation: u64,
}

impl<T: Element> std::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.try_value() {
            Ok(v) => write!(f, "Var(#{}, shape {:?})", self.id, v.shape()),
            Err(_) => write!(f, "Var(#{}, stale: generation {})", self.id, self.generation),
        }
    }
}

impl<T: Element> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Tape<T> {
    /// An empty tape whose heavy ops (gemm, conv) use the current rayon pool.
    pub fn new() -> Self {
        Self::with_par(Par::Rayon)
    }

    /// An empty tape with an explicit parallelism policy for its kernels.
    pub fn with_par(par: Par) -> Self {
        Tape { nodes: RefCell::new(Vec::new()), bindings: RefCell::new(Vec::new()), par, generation: Cell::new(0) }
    }

    /// The current generation: the number of `backward` calls so far. Variables created now
    /// carry it; variables of an earlier generation are stale.
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// The parallelism policy passed to kernels.
    pub fn par(&self) -> Par {
        self.par
    }

    /// Number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// `true` before any node is recorded (and after `backward`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A constant input: no gradient flows to it.
    pub fn constant(&self, value: Tensor<T>) -> Var<'_, T> {
        let value = if value.is_standard_layout() { value } else { value.as_standard_layout().into_owned() };
        self.push_node(value, Vec::new(), None, false)
    }

    /// A leaf that receives a gradient (read it with [`Grads::wrt`]).
    pub fn leaf(&self, value: Tensor<T>) -> Var<'_, T> {
        let value = if value.is_standard_layout() { value } else { value.as_standard_layout().into_owned() };
        self.push_node(value, Vec::new(), None, true)
    }

    /// A leaf bound to a named parameter: [`Grads::param`] sums the gradients of every
    /// binding of that name (a parameter used twice in a step is bound twice).
    pub fn param(&self, name: &str, value: &Tensor<T>) -> Var<'_, T> {
        let v = self.leaf(value.as_standard_layout().into_owned());
        self.bindings.borrow_mut().push((name.to_string(), v.id));
        v
    }

    fn push_node(
        &self,
        value: Tensor<T>,
        parents: Vec<usize>,
        backward: Option<BackwardFn<T>>,
        rg: bool,
    ) -> Var<'_, T> {
        self.push_node_rc(Rc::new(value), parents, backward, rg)
    }

    fn push_node_rc(
        &self,
        value: Rc<Tensor<T>>,
        parents: Vec<usize>,
        backward: Option<BackwardFn<T>>,
        rg: bool,
    ) -> Var<'_, T> {
        debug_assert!(value.is_standard_layout(), "autodiff: node values are kept in standard layout");
        let mut nodes = self.nodes.borrow_mut();
        let id = nodes.len();
        nodes.push(Node { value, parents, backward, requires_grad: rg });
        Var { tape: self, id, generation: self.generation.get() }
    }

    /// Records an op node. The backward closure is kept only if some parent needs a gradient.
    pub(crate) fn push_op(
        &self,
        value: Tensor<T>,
        parents: &[Var<'_, T>],
        backward: impl FnOnce(&Tensor<T>, &[bool]) -> Vec<Option<Tensor<T>>> + 'static,
    ) -> Var<'_, T> {
        self.push_op_rc(Rc::new(value), parents, backward)
    }

    /// [`Tape::push_op`] for a value the backward closure also holds (e.g. `exp`, `sigmoid`).
    pub(crate) fn push_op_rc(
        &self,
        value: Rc<Tensor<T>>,
        parents: &[Var<'_, T>],
        backward: impl FnOnce(&Tensor<T>, &[bool]) -> Vec<Option<Tensor<T>>> + 'static,
    ) -> Var<'_, T> {
        for p in parents {
            assert!(std::ptr::eq(p.tape, self), "autodiff: an op mixes variables of two different tapes");
            assert!(p.is_live(), "autodiff: an op records a stale variable (ops check operands with Var::live)");
        }
        let rg = {
            let nodes = self.nodes.borrow();
            parents.iter().any(|p| nodes[p.id].requires_grad)
        };
        let ids = parents.iter().map(|p| p.id).collect();
        let bw: Option<BackwardFn<T>> = if rg { Some(Box::new(backward)) } else { None };
        self.push_node_rc(value, ids, bw, rg)
    }

    /// The value of node `id` (shared, no copy); the caller has checked the generation.
    fn value_of(&self, id: usize) -> Rc<Tensor<T>> {
        Rc::clone(&self.nodes.borrow()[id].value)
    }

    /// Back-propagates from the scalar `loss` and empties the tape.
    ///
    /// Returns the gradients of every leaf (and bound parameter) that influences `loss`.
    /// Intermediate gradients are dropped as soon as they have been propagated (their buffers go
    /// to this thread's pool of output buffers, `detaux_kernels::alloc::recycle`).
    ///
    /// # Errors
    /// [`Error::Shape`] if `loss` has more than one element; [`Error::StaleVar`] if `loss` was
    /// created before an earlier `backward` of this tape.
    ///
    /// # Panics
    /// If `loss` belongs to another tape.
    pub fn backward(&self, loss: Var<'_, T>) -> Result<Grads<T>> {
        assert!(std::ptr::eq(loss.tape, self), "autodiff: backward() on a variable of another tape");
        loss.live("backward")?;
        let n_elems = self.value_of(loss.id).len();
        if n_elems != 1 {
            return Err(Error::shape(
                "backward",
                format!("the loss must have exactly one element, got shape {:?}", loss.shape()),
            ));
        }
        let mut nodes = std::mem::take(&mut *self.nodes.borrow_mut());
        let bindings = std::mem::take(&mut *self.bindings.borrow_mut());
        let generation = self.generation.get();
        self.generation.set(generation + 1);
        let mut grads: Vec<Option<Tensor<T>>> = (0..nodes.len()).map(|_| None).collect();
        let shape = nodes[loss.id].value.raw_dim();
        grads[loss.id] = Some(Tensor::from_elem(shape, T::ONE));
        nodes.truncate(loss.id + 1);
        while let Some(node) = nodes.pop() {
            let id = nodes.len();
            let Some(backward) = node.backward else { continue };
            let Some(g) = grads[id].take() else { continue };
            let needs: Vec<bool> = node.parents.iter().map(|&p| nodes[p].requires_grad).collect();
            drop(node.value);
            let parent_grads = backward(&g, &needs);
            debug_assert_eq!(parent_grads.len(), node.parents.len());
            for ((&p, pg), need) in node.parents.iter().zip(parent_grads).zip(needs) {
                let Some(pg) = pg else { continue };
                if !need {
                    continue;
                }
                debug_assert_eq!(pg.shape(), nodes[p].value.shape(), "gradient shape of node {p}");
                match &mut grads[p] {
                    Some(acc) => {
                        *acc += &pg;
                        recycle(pg);
                    }
                    slot @ None => *slot = Some(pg),
                }
            }
            recycle(g);
        }
        Ok(Grads { grads, bindings, generation: Some(generation) })
    }
}

/// Gives the buffer of a gradient that [`Tape::backward`] has finished with to this thread's
/// pool of output buffers ([`detaux_kernels::alloc::output_buffer`]): the next step's conv
/// outputs and gradients, which their kernels overwrite, take it instead of a zero-filled one.
fn recycle<T: Element>(t: Tensor<T>) {
    detaux_kernels::alloc::recycle(t.into_raw_vec_and_offset().0);
}

/// Gradients of the leaves of a consumed tape.
pub struct Grads<T> {
    grads: Vec<Option<Tensor<T>>>,
    bindings: Vec<(String, usize)>,
    /// The tape generation these gradients belong to (`None` for [`Grads::from_named`]).
    generation: Option<u64>,
}

impl<T: Element> Grads<T> {
    /// Gradients given directly by parameter name, in the given order, as if each name had
    /// been bound once: for gradients assembled outside a tape (e.g. multi-task gradient
    /// surgery, `crate::mtl::weighting`), so that an optimizer can apply them.
    /// A name given twice is summed in order, like a parameter bound twice.
    pub fn from_named(named: Vec<(String, Tensor<T>)>) -> Self {
        let mut grads = Vec::with_capacity(named.len());
        let mut bindings = Vec::with_capacity(named.len());
        for (i, (name, g)) in named.into_iter().enumerate() {
            grads.push(Some(g));
            bindings.push((name, i));
        }
        Grads { grads, bindings, generation: None }
    }

    /// `∂L/∂v` for a leaf `v` (`None` if `loss` does not depend on it). Only leaves keep their
    /// gradients; intermediate nodes return `None`.
    ///
    /// # Errors
    /// [`Error::StaleVar`] if `v` was not created in the step these gradients come from (its
    /// id would name another step's node), or these gradients were not made by a tape
    /// ([`Grads::from_named`]).
    pub fn wrt(&self, v: Var<'_, T>) -> Result<Option<&Tensor<T>>> {
        if self.generation != Some(v.generation) {
            return Err(Error::StaleVar { op: "Grads::wrt", id: v.id, generation: v.generation });
        }
        Ok(self.grads.get(v.id).and_then(|g| g.as_ref()))
    }

    /// The gradient of the named parameter, summed over its bindings in binding order
    /// (`None` if it was not bound or `loss` does not depend on it).
    pub fn param(&self, name: &str) -> Option<Tensor<T>> {
        let mut acc: Option<Tensor<T>> = None;
        for (n, id) in &self.bindings {
            if n != name {
                continue;
            }
            if let Some(g) = self.grads.get(*id).and_then(|g| g.as_ref()) {
                match &mut acc {
                    Some(a) => *a += g,
                    None => acc = Some(g.clone()),
                }
            }
        }
        acc
    }

    /// Names of the bound parameters, in first-binding order, without repeats.
    pub fn param_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (n, _) in &self.bindings {
            if !out.contains(&n.as_str()) {
                out.push(n);
            }
        }
        out
    }
}

impl<'t, T: Element> Var<'t, T> {
    /// The tape this variable belongs to.
    pub fn tape(&self) -> &'t Tape<T> {
        self.tape
    }
    /// The node id (creation index).
    pub fn id(&self) -> usize {
        self.id
    }
    /// The tape generation this variable was created in ([`Tape::generation`]).
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// `true` while the variable's step has not been consumed by [`Tape::backward`].
    #[inline]
    pub fn is_live(&self) -> bool {
        self.generation == self.tape.generation.get()
    }
    /// `Ok` while the variable is live, else the [`Error::StaleVar`] naming `op`.
    #[inline]
    pub(crate) fn live(&self, op: &'static str) -> Result<()> {
        if self.is_live() {
            Ok(())
        } else {
            Err(Error::StaleVar { op, id: self.id, generation: self.generation })
        }
    }
    /// The value (shared; clone it to own it).
    ///
    /// # Errors
    /// [`Error::StaleVar`] if the variable's step was consumed by [`Tape::backward`].
    pub fn try_value(&self) -> Result<Rc<Tensor<T>>> {
        self.live("value")?;
        Ok(self.tape.value_of(self.id))
    }
    /// The value (shared; clone it to own it).
    ///
    /// # Panics
    /// If the variable is stale (see [`Var::try_value`] for the checked form).
    pub fn value(&self) -> Rc<Tensor<T>> {
        self.try_value().unwrap_or_else(|e| panic!("autodiff: {e}"))
    }
    /// The shape of the value.
    ///
    /// # Panics
    /// If the variable is stale.
    pub fn shape(&self) -> Vec<usize> {
        self.value().shape().to_vec()
    }
    /// Number of dimensions.
    ///
    /// # Panics
    /// If the variable is stale.
    pub fn ndim(&self) -> usize {
        self.value().ndim()
    }
    /// Whether a gradient flows to this node.
    ///
    /// # Panics
    /// If the variable is stale.
    pub fn requires_grad(&self) -> bool {
        self.live("requires_grad").unwrap_or_else(|e| panic!("autodiff: {e}"));
        self.tape.nodes.borrow()[self.id].requires_grad
    }
    /// The single element of a one-element value.
    ///
    /// # Errors
    /// [`Error::Shape`] if the value has more than one element; [`Error::StaleVar`] if the
    /// variable is stale.
    pub fn scalar(&self) -> Result<T> {
        let v = self.try_value()?;
        if v.len() != 1 {
            return Err(Error::shape("scalar", format!("expected one element, got shape {:?}", v.shape())));
        }
        Ok(*v.iter().next().expect("one element"))
    }
}
