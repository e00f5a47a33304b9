"""Module docstring."""
import gc
counter = 0


def plain(a, b=2):
    """Function docstring."""
    total = a + b
    return total


class Greeter:
    """Class docstring."""

    greeting = "hi"

    def greet(self, name):
        msg = "%s %s" % (self.greeting, name)
        return msg

    @staticmethod
    def helper(x):
        return x * 2


def deco(fn):
    return fn


@deco
def decorated(n):
    def inner(m):
        nonlocal n
        n += m
        return n
    return inner(1)


def uses_global():
    global counter
    counter += 1


def loops(n):
    out = 0
    for i in range(n):
        if i % 3 == 0:
            continue
        elif i % 5 == 0:
            out += 5
        else:
            out += 1
    else:
        out += 100
    while n > 0:
        n -= 1
        if n == 2:
            break
    return out


def errors(x):
    try:
        y = 10 // x
    except ZeroDivisionError as e:
        y = -1
    else:
        y += 1
    finally:
        y *= 2
    return y


class Ctx:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


with Ctx() as c:
    text = ("a multi-line"
            " statement")
    long = """a multi-line
string"""
    joined = 1 + \
        2
if counter == 0: counter = 1
for j in range(3): counter += j; counter -= 1
while counter > 100: ...
class Empty: pass
def one_liner(): return 7
print(plain(1), Greeter().greet("x"), Greeter.helper(2), decorated(3))
uses_global()
print(loops(20), errors(0), errors(5), counter, text, long, joined, one_liner())
