"""Class names of the known datasets; `data.classes` may name one of these lists instead of spelling it out."""

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGITS = [str(i) for i in range(10)]

NAMED = {"fashion-mnist": FASHION_CLASSES, "mnist": DIGITS}
