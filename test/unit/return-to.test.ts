import { loginUrlFor, safeReturnTo } from '../../src/auth/return-to';

describe('safeReturnTo', () => {
  it.each([
    ['https://evil.example/', '/'],
    ['//evil.example/path', '/'],
    ['/\\evil.example', '/'],
    ['\\\\evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['/ok\r\nLocation: x', '/'],
    ['', '/'],
    [undefined, '/'],
    [['/a', '/b'], '/'],
    ['/oauth/authorize?client_id=a&state=x%3D%2B', '/oauth/authorize?client_id=a&state=x%3D%2B'],
    ['/recipes/12', '/recipes/12'],
    ['/.//evil.example', '/'],
    ['/..//evil.example', '/'],
    ['/%2e//evil.example', '/'],
    ['/a/..//evil.example/x', '/'],
    ['/a/./b', '/a/b'],
  ])('when return_to is %p, then the user goes to %p', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });
});

describe('loginUrlFor', () => {
  it('when the page to come back to is short, then the login URL carries it', () => {
    expect(loginUrlFor('/recipes?q=soup')).toBe('/login?return_to=%2Frecipes%3Fq%3Dsoup');
  });

  it('when the page to come back to is huge, then it is dropped rather than echoed into a huge Location header', () => {
    expect(loginUrlFor(`/recipes?q=${'x'.repeat(5000)}`)).toBe('/login');
  });
});
