"""prepare@<normalisation>-<encoding>: split, normalise and encode one variant into data/prepared/."""

import _require  # noqa: F401  (first: a missing fmnist package is one line, not a traceback)
import argparse

from fmnist.console import stage
from fmnist.escaping import terminal
from fmnist.data.prepare import prepare_variant
from fmnist.errors import ParamsError
from fmnist.params import check_image_size, load_params


@stage
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", help="e.g. unit-onehot (see prepare.normalisations x prepare.encodings)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--out", default=None, help="default: data/prepared/<variant>")
    args = parser.parse_args(argv)

    params = load_params(args.params)
    if args.variant not in params.prepare.variants:
        raise ParamsError(f"params.yaml: variant '{args.variant}' is not built by prepare; "
                          f"choose one of: {', '.join(params.prepare.variants)}")
    normalisation, encoding = args.variant.split("-")
    meta = prepare_variant(args.raw, args.out or f"data/prepared/{args.variant}", normalisation, encoding,
                           params.prepare.val_size,
                           check_size=lambda size: check_image_size(params, size, f"{args.raw} holds"))
    sizes = ", ".join(f"{s} {v['x']['shape'][0]}" for s, v in meta["splits"].items())
    print(f"{terminal(meta['dataset'])} {args.variant}: {sizes}")


if __name__ == "__main__":
    main()
