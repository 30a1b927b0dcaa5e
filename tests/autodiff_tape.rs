//! Tape safety: a `Var` kept across `Tape::backward` is stale. Its id names a node of the next
//! step, so every use of it must be a typed error (`Error::StaleVar`), never a read of that
//! node or a gradient recorded through it.

use detaux::autodiff::ops::shape::concat;
use detaux::autodiff::Tape;
use detaux::Error;
use ndarray::arr1;

fn is_stale<T>(r: detaux::Result<T>, want_id: usize) -> bool {
    matches!(r, Err(Error::StaleVar { id, generation: 0, .. }) if id == want_id)
}

#[test]
fn a_var_kept_across_backward_is_a_typed_error() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(arr1(&[1.0, 2.0]).into_dyn());
    let loss = x.mul(x).unwrap().sum_all();
    let grads = tape.backward(loss).unwrap();
    assert_eq!(tape.generation(), 1);

    // The next step reuses ids from 0: without the generation, `x` would name `y`'s node.
    let y = tape.leaf(arr1(&[5.0, 6.0, 7.0]).into_dyn());
    assert_eq!(y.id(), x.id());
    assert!(!x.is_live() && y.is_live());

    assert!(is_stale(x.try_value(), x.id()));
    assert!(is_stale(x.scalar(), x.id()));
    assert!(is_stale(x.add(y), x.id()));
    assert!(is_stale(y.mul(x), x.id()));
    assert!(is_stale(x.matmul(y), x.id()));
    assert!(is_stale(x.reshape(&[2, 1]), x.id()));
    assert!(is_stale(x.flatten(0), x.id()));
    assert!(is_stale(x.softmax(0), x.id()));
    assert!(is_stale(concat(&[y, x], 0), x.id()));
    assert!(is_stale(tape.backward(loss), loss.id()));

    // Infallible ops hand the stale handle on untouched; the error comes at the next
    // fallible use, and nothing was recorded on the tape.
    let before = tape.len();
    let z = x.exp().relu().sum_all().mean_all().detach();
    assert_eq!(tape.len(), before);
    assert!(!z.is_live());
    assert!(is_stale(tape.backward(z), x.id()));

    // Gradients answer only for variables of their own step.
    assert_eq!(grads.wrt(x).unwrap().unwrap(), &arr1(&[2.0, 4.0]).into_dyn());
    assert!(matches!(grads.wrt(y), Err(Error::StaleVar { generation: 1, .. })));

    // The accessors without a `Result` refuse loudly.
    let shape = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| x.shape()));
    assert!(shape.is_err());

    // The live step is unaffected by all of the above.
    let g2 = tape.backward(y.sum_all()).unwrap();
    assert_eq!(g2.wrt(y).unwrap().unwrap(), &arr1(&[1.0, 1.0, 1.0]).into_dyn());
    assert!(is_stale(tape.backward(loss), loss.id()));

    let msg = x.try_value().unwrap_err().to_string();
    assert!(msg.contains("stale") && msg.contains("#0"), "{msg}");
}

#[test]
fn gradients_assembled_outside_a_tape_name_no_variable() {
    let tape = Tape::<f64>::new();
    let x = tape.leaf(arr1(&[1.0]).into_dyn());
    let grads = detaux::autodiff::Grads::from_named(vec![("w".to_string(), arr1(&[3.0]).into_dyn())]);
    assert!(matches!(grads.wrt(x), Err(Error::StaleVar { .. })));
    assert_eq!(grads.param("w").unwrap(), arr1(&[3.0]).into_dyn());
}
