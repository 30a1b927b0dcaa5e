//! The tape, its variable handles and the gradient store.

use super::{Element, Tensor};
use crate::error::{Error, Result};
use crate::par::Par;
use std::cell::RefCell;
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
}

/// A handle to a node of a [`Tape`]: cheap to copy, valid until the tape's `backward`.
#[derive(Clone, Copy)]
pub struct Var<'t, T: Element> {
    pub(crate) tape: &'t Tape<T>,
    pub(crate) id: usize,
}

impl<T: Element> std::fmt::Debug for Var<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var(#{}, shape {:?})", self.id, self.shape())
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
        Tape { nodes: RefCell::new(Vec::new()), bindings: RefCell::new(Vec::new()), par }
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
        Var { tape: self, id }
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
        }
        let rg = {
            let nodes = self.nodes.borrow();
            parents.iter().any(|p| nodes[p.id].requires_grad)
        };
        let ids = parents.iter().map(|p| p.id).collect();
        let bw: Option<BackwardFn<T>> = if rg { Some(Box::new(backward)) } else { None };
        self.push_node_rc(value, ids, bw, rg)
    }

    /// The value of node `id` (shared, no copy).
    ///
    /// # Panics
    /// If the tape was already consumed by `backward`.
    pub(crate) fn value_of(&self, id: usize) -> Rc<Tensor<T>> {
        let nodes = self.nodes.borrow();
        let node = nodes.get(id).expect("autodiff: variable used after its tape's backward()");
        Rc::clone(&node.value)
    }

    pub(crate) fn requires_grad_of(&self, id: usize) -> bool {
        self.nodes.borrow()[id].requires_grad
    }

    /// Back-propagates from the scalar `loss` and empties the tape.
    ///
    /// Returns the gradients of every leaf (and bound parameter) that influences `loss`.
    /// Intermediate gradients are dropped as soon as they have been propagated.
    ///
    /// # Errors
    /// [`Error::Shape`] if `loss` has more than one element.
    pub fn backward(&self, loss: Var<'_, T>) -> Result<Grads<T>> {
        assert!(std::ptr::eq(loss.tape, self), "autodiff: backward() on a variable of another tape");
        let n_elems = self.value_of(loss.id).len();
        if n_elems != 1 {
            return Err(Error::shape(
                "backward",
                format!("the loss must have exactly one element, got shape {:?}", loss.shape()),
            ));
        }
        let mut nodes = std::mem::take(&mut *self.nodes.borrow_mut());
        let bindings = std::mem::take(&mut *self.bindings.borrow_mut());
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
                    Some(acc) => *acc += &pg,
                    slot @ None => *slot = Some(pg),
                }
            }
        }
        Ok(Grads { grads, bindings })
    }
}

/// Gradients of the leaves of a consumed tape.
pub struct Grads<T> {
    grads: Vec<Option<Tensor<T>>>,
    bindings: Vec<(String, usize)>,
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
        Grads { grads, bindings }
    }

    /// `∂L/∂v` for a leaf `v` (`None` if `loss` does not depend on it). Only leaves keep their
    /// gradients; intermediate nodes return `None`.
    pub fn wrt(&self, v: Var<'_, T>) -> Option<&Tensor<T>> {
        self.grads.get(v.id).and_then(|g| g.as_ref())
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
    /// The value (shared; clone it to own it).
    pub fn value(&self) -> Rc<Tensor<T>> {
        self.tape.value_of(self.id)
    }
    /// The shape of the value.
    pub fn shape(&self) -> Vec<usize> {
        self.tape.value_of(self.id).shape().to_vec()
    }
    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.tape.value_of(self.id).ndim()
    }
    /// Whether a gradient flows to this node.
    pub fn requires_grad(&self) -> bool {
        self.tape.requires_grad_of(self.id)
    }
    /// The single element of a one-element value.
    ///
    /// # Errors
    /// [`Error::Shape`] if the value has more than one element.
    pub fn scalar(&self) -> Result<T> {
        let v = self.value();
        if v.len() != 1 {
            return Err(Error::shape("scalar", format!("expected one element, got shape {:?}", v.shape())));
        }
        Ok(*v.iter().next().expect("one element"))
    }
}
