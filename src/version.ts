// The one place the product's version lives; package.json's "version" is kept equal by a unit test.
export const VERSION = "0.1.0";
